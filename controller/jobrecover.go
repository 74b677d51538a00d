package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// interruptedHostMsg is what a host whose step was in flight says after
// its controller died: the job no longer knows, the host does.
const interruptedHostMsg = "the controller stopped while this step ran; check foundry host list and run the command again (hosts already done are left alone)"

// markInterrupted turns a job record its controller no longer runs into
// what is known of it: the batches it finished keep their outcomes, the
// batch in flight is interrupted, later ones never started. It returns
// false for a record that is not running or belongs to another
// controller of the cluster (clustered: an unowned record could be any
// member's, so it is left alone).
func markInterrupted(rec *messages.JobRecord, self string, clustered bool, now time.Time) bool {
	if rec.State != messages.JobRunning {
		return false
	}
	if rec.Controller != self && (rec.Controller != "" || clustered) {
		return false
	}
	for i := range rec.Hosts {
		h := &rec.Hosts[i]
		if h.State != messages.HostPending {
			continue
		}
		if h.Batch <= rec.BatchesRun+1 {
			h.State, h.Error = messages.HostInterrupted, interruptedHostMsg
		} else {
			h.State = messages.HostNotStarted
		}
	}
	rec.State = messages.JobInterrupted
	rec.Stopped = fmt.Sprintf("controller %s stopped during batch %d of %d", orDefault(rec.Controller, "?"), min(rec.BatchesRun+1, rec.Batches), rec.Batches)
	rec.Finished = now.UnixMilli()
	rec.Updated = rec.Finished
	return true
}

// interruptJobs runs once at start, before the API serves: a job this
// controller was running when it died (kill -9, a crash, power loss)
// has no goroutine left, and would otherwise show "running" forever and
// keep every follower (foundry agent upgrade, job watch) waiting. Only
// this controller's jobs are touched, with compare-and-set, so a job
// another member of the cluster runs and updates is never overwritten.
func (c *Controller) interruptJobs(ctx context.Context) error {
	kv, err := c.jobsKV(ctx)
	if err != nil {
		return err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	var errs []error
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var rec messages.JobRecord
		if json.Unmarshal(e.Value(), &rec) != nil {
			continue
		}
		if !markInterrupted(&rec, c.opts.Name, c.plan != nil, time.Now()) {
			continue
		}
		b, _ := json.Marshal(rec)
		if _, err := kv.Update(ctx, key, b, e.Revision()); err != nil {
			errs = append(errs, fmt.Errorf("mark job %s interrupted: %w", key, err))
			continue
		}
		c.logger.Warn("job was running when this controller stopped; marked interrupted", "job", rec.ID, "verb", rec.Verb,
			"batches_run", rec.BatchesRun, "batches", rec.Batches, "interrupted", rec.Count(messages.HostInterrupted))
	}
	return errors.Join(errs...)
}
