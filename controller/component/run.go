package component

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// Fleet is the part of the controller API that component work uses; the
// CLI passes its client.
type Fleet interface {
	RunJob(ctx context.Context, req messages.JobRunRequest) (messages.JobRecord, error)
	Job(ctx context.Context, id string) (messages.JobRecord, error)
	ListArtifacts(ctx context.Context, req messages.ArtifactListRequest) (messages.ArtifactListResult, error)
}

// StepTimeout bounds one host's service command: fetching a large
// artifact and waiting for health take a while.
const StepTimeout = 5 * time.Minute

// RunJob runs one service verb on hosts as a job (so it is recorded,
// audited and visible in foundry job list) and waits for it to finish,
// calling progress after every poll.
func RunJob(ctx context.Context, f Fleet, verb string, hosts []string, payload any, progress func(messages.JobRecord)) (messages.JobRecord, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return messages.JobRecord{}, err
	}
	rec, err := f.RunJob(ctx, messages.JobRunRequest{Verb: verb, Hosts: hosts, Payload: b,
		MaxFailures: "100%", TimeoutMs: StepTimeout.Milliseconds()})
	if err != nil {
		return rec, fmt.Errorf("start %s job: %w", verb, err)
	}
	for {
		if progress != nil {
			progress(rec)
		}
		if rec.State != messages.JobRunning {
			return rec, nil
		}
		select {
		case <-ctx.Done():
			return rec, fmt.Errorf("job %s is still running on the controller (foundry job watch %s): %w", rec.ID, rec.ID, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		next, err := f.Job(ctx, rec.ID)
		if err != nil {
			return rec, fmt.Errorf("lost the controller while job %s ran (%w); once it is back, run the same command again: every step checks first, so it converges", rec.ID, err)
		}
		rec = next
	}
}

// HostResult is one host's outcome of a service job, with its decoded
// reply when there is one.
type HostResult struct {
	Host   string                       `json:"host"`
	State  string                       `json:"state"`
	Error  string                       `json:"error,omitempty"`
	Apply  *messages.ServiceApplyReply  `json:"apply,omitempty"`
	Status *messages.ServiceStatus      `json:"status,omitempty"`
	Remove *messages.ServiceRemoveReply `json:"remove,omitempty"`
}

// Results decodes a finished job's per-host replies for its verb.
func Results(rec messages.JobRecord) []HostResult {
	out := make([]HostResult, 0, len(rec.Hosts))
	for _, h := range rec.Hosts {
		r := HostResult{Host: h.Host, State: h.State, Error: h.Error}
		if len(h.Result) > 0 {
			switch rec.Verb {
			case messages.VerbServiceApply, messages.VerbServicePlan:
				r.Apply = decodeInto[messages.ServiceApplyReply](h.Result)
			case messages.VerbServiceStatus:
				r.Status = decodeInto[messages.ServiceStatus](h.Result)
			case messages.VerbServiceRemove:
				r.Remove = decodeInto[messages.ServiceRemoveReply](h.Result)
			}
		}
		out = append(out, r)
	}
	return out
}

func decodeInto[T any](b []byte) *T {
	var v T
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return &v
}
