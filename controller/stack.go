package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// StackBucket holds the newest reported status of each cluster component
// (a Helm release, K3s's nodes), keyed by component. The controller
// cannot read the cluster itself (it links neither client-go nor Helm,
// and holds no kubeconfig), so what it knows is what the last `stack
// status`, `cluster status` or `component status` run reported. Entries
// expire like job records, whose replies are the host services' status:
// a component nobody checked for a month is not shown as if current.
const (
	StackBucket = "foundry_stack"
	stackTTL    = jobsTTL
)

func (c *Controller) stackKV(ctx context.Context) (jetstream.KeyValue, error) {
	return c.stack.open(ctx, c.js, jetstream.KeyValueConfig{
		Bucket: StackBucket, Description: "cluster components as the last status run reported them",
		History: 1, TTL: stackTTL, Storage: jetstream.FileStorage, Replicas: max(1, c.opts.Replicas),
	})
}

// ReportStack stores each reported component with who reported it, unless
// the stored one was checked later (two status runs that finish out of
// order keep the newer word). The request was decoded and bounded by
// messages.DecodeStackReport; the audit record is handleWith's.
func (c *Controller) ReportStack(ctx context.Context, req messages.StackReport) (messages.StackReportResult, error) {
	var res messages.StackReportResult
	call, ok := callFrom(ctx)
	if !ok {
		return res, &messages.Error{Code: messages.CodeUnauthenticated, Message: "no operator"}
	}
	kv, err := c.stackKV(ctx)
	if err != nil {
		return res, err
	}
	now := time.Now().UnixMilli()
	for _, s := range req.Components {
		s.Operator, s.Reported = call.op.Name, now
		stored, err := c.putStackEntry(ctx, kv, s)
		if err != nil {
			return res, err
		}
		if stored {
			res.Stored++
		}
	}
	return res, nil
}

// putStackEntry writes s unless a later check is stored. The write is
// conditional on the revision read, so a concurrent report cannot be
// overwritten by an older one between the read and the write.
func (c *Controller) putStackEntry(ctx context.Context, kv jetstream.KeyValue, s messages.ClusterComponentStatus) (bool, error) {
	b, _ := json.Marshal(s)
	for range 3 {
		e, err := kv.Get(ctx, s.Component)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err = kv.Create(ctx, s.Component, b); err == nil {
				return true, nil
			}
		case err != nil:
			return false, fmt.Errorf("read stack entry %s: %w", s.Component, err)
		default:
			var cur messages.ClusterComponentStatus
			if json.Unmarshal(e.Value(), &cur) == nil && cur.CheckedAt > s.CheckedAt {
				return false, nil
			}
			if _, err = kv.Update(ctx, s.Component, b, e.Revision()); err == nil {
				return true, nil
			}
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, fmt.Errorf("store stack entry %s: %w", s.Component, err)
		}
	}
	return false, fmt.Errorf("store stack entry %s: it changed three times while being written; run the status again", s.Component)
}

// ListStack returns the newest report of each cluster component, sorted
// by component.
func (c *Controller) ListStack(ctx context.Context, _ messages.StackListRequest) (messages.StackListResult, error) {
	res := messages.StackListResult{Components: []messages.ClusterComponentStatus{}}
	kv, err := c.stackKV(ctx)
	if err != nil {
		return res, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return res, err
	}
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue
		}
		var s messages.ClusterComponentStatus
		if json.Unmarshal(e.Value(), &s) != nil {
			continue
		}
		res.Components = append(res.Components, s)
	}
	sort.Slice(res.Components, func(i, j int) bool { return res.Components[i].Component < res.Components[j].Component })
	return res, nil
}
