package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/controller/rollout"
	"github.com/foundry-fleet/foundry/messages"
)

// JobsBucket holds job records; they expire after jobsTTL.
const (
	JobsBucket     = "foundry_jobs"
	jobsTTL        = 30 * 24 * time.Hour
	defaultJobStep = 30 * time.Second
	// A service apply fetches an artifact, restarts and waits up to a
	// minute for health; a remove stops a service. Their steps default
	// longer so a slow host is not reported not_reached while it works.
	defaultServiceJobStep = 5 * time.Minute
	// maxJobResultsTotal bounds the host results one job record keeps.
	maxJobResultsTotal = 2 << 20
)

// jobStepDefault is the per-batch timeout when the request sets none.
func jobStepDefault(verb string) time.Duration {
	switch verb {
	case messages.VerbServiceApply, messages.VerbServiceRemove, messages.VerbAgentUpgrade:
		return defaultServiceJobStep
	}
	return defaultJobStep
}

// lazyKV is a KV bucket opened on first use, so a controller that never
// needs it does not create it.
type lazyKV struct {
	mu sync.Mutex
	kv jetstream.KeyValue
}

func (l *lazyKV) open(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kv != nil {
		return l.kv, nil
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s bucket: %w", cfg.Bucket, err)
	}
	l.kv = kv
	return kv, nil
}

func (c *Controller) jobsKV(ctx context.Context) (jetstream.KeyValue, error) {
	return c.jobs.open(ctx, c.js, jetstream.KeyValueConfig{
		Bucket: JobsBucket, Description: "jobs and their per-host results",
		History: 1, TTL: jobsTTL, Storage: jetstream.FileStorage, Replicas: max(1, c.opts.Replicas),
	})
}

// RunJob validates a rolling job, stores it and starts it; it returns the
// record as created, before any host is touched.
func (c *Controller) RunJob(ctx context.Context, req messages.JobRunRequest) (messages.JobRecord, error) {
	var rec messages.JobRecord
	if !slices.Contains(messages.JobVerbs, req.Verb) {
		return rec, &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf("verb %q cannot run as a job; use one of %v", req.Verb, messages.JobVerbs)}
	}
	// job.run is open to read-only operators for the read-only verbs
	// (messages.VerbCheckedAPISubjects): the verb decides.
	if call, ok := callFrom(ctx); !ok || !messages.VerbAllowed(req.Verb, call.op.Role) {
		c.metrics.CommandRefused(messages.CodeForbidden)
		return rec, &messages.Error{Code: messages.CodeForbidden,
			Message: fmt.Sprintf("a job running %s needs an admin operator; read-only operators may run %v", req.Verb, messages.ReadOnlyVerbs)}
	}
	if err := messages.CheckJobPayload(req.Verb, req.Payload); err != nil {
		return rec, &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf("%s payload: %s", req.Verb, messages.AsError(err).Message)}
	}
	batch, err := rollout.ParseBatch(orDefault(req.Batch, "100%"))
	if err != nil {
		return rec, &messages.Error{Code: messages.CodeBadRequest, Message: err.Error()}
	}
	var maxFail rollout.MaxFailures // zero: the first failure stops the job
	if req.MaxFailures != "" {
		if maxFail, err = rollout.ParseMaxFailures(req.MaxFailures); err != nil {
			return rec, &messages.Error{Code: messages.CodeBadRequest, Message: err.Error()}
		}
	}
	if req.BatchWaitMs < 0 || req.BatchWaitMs > time.Hour.Milliseconds() {
		return rec, &messages.Error{Code: messages.CodeBadRequest, Message: "batch wait must be between 0 and 1h"}
	}
	step := time.Duration(req.TimeoutMs) * time.Millisecond
	if step == 0 {
		step = jobStepDefault(req.Verb)
	}
	if step < 0 || step > maxStatusTimeout {
		return rec, &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf("timeout must be between 1ms and %s", maxStatusTimeout)}
	}
	hosts, _, err := c.selectHosts(req.Hosts, req.Where, time.Now())
	if err != nil {
		return rec, err
	}
	if len(hosts) == 0 {
		return rec, &messages.Error{Code: messages.CodeNotFound, Message: "the job selects no host; check --host/--where and foundry host list"}
	}
	call, _ := callFrom(ctx)
	plan := rollout.Plan(hosts, batch)
	now := time.Now().UnixMilli()
	rec = messages.JobRecord{ID: messages.NewID()[:16], Verb: req.Verb, Operator: call.op.Name, Controller: c.opts.Name, Where: req.Where,
		Batch: batch.String(), BatchWaitMs: req.BatchWaitMs, MaxFailures: maxFail.String(), State: messages.JobRunning,
		Created: now, Updated: now, Batches: len(plan)}
	for i, b := range plan {
		for _, h := range b {
			rec.Hosts = append(rec.Hosts, messages.JobHost{Host: h, State: messages.HostPending, Batch: i + 1})
		}
	}
	if err := c.putJob(ctx, &rec); err != nil {
		return rec, err
	}
	jctx := withCall(context.Background(), call)
	var payload any = struct{}{}
	if len(req.Payload) > 0 {
		payload = req.Payload
	}
	// The goroutine owns its own copy of the hosts: the caller's record is
	// encoded into the API answer while the job already updates host states.
	run := rec
	run.Hosts = slices.Clone(rec.Hosts)
	go c.runJob(jctx, run, payload, plan, maxFail, time.Duration(req.BatchWaitMs)*time.Millisecond, step)
	return rec, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// runJob runs the batches and keeps the record current after each one.
func (c *Controller) runJob(ctx context.Context, rec messages.JobRecord, payload any, plan [][]string, maxFail rollout.MaxFailures, wait, step time.Duration) {
	index := map[string]int{}
	for i, h := range rec.Hosts {
		index[h.Host] = i
	}
	var mu sync.Mutex
	resultBytes := 0 // the record must stay one KV value and one API answer
	report := rollout.Run(ctx, plan, wait, maxFail, func(ctx context.Context, batch []string) map[string]error {
		results := c.jobStep(ctx, rec.ID, rec.Verb, payload, batch, step)
		mu.Lock()
		defer mu.Unlock()
		for h, r := range results {
			jh := &rec.Hosts[index[h]]
			jh.State, jh.Error, jh.StepID = r.state, r.msg, r.stepID
			if resultBytes+len(r.result) <= maxJobResultsTotal {
				jh.Result = r.result
				resultBytes += len(r.result)
			}
		}
		rec.BatchesRun++
		rec.Updated = time.Now().UnixMilli()
		if err := c.putJob(context.Background(), &rec); err != nil {
			c.logger.Warn("job progress not stored", "job", rec.ID, "err", err)
		}
		out := make(map[string]error, len(batch))
		for _, h := range batch {
			r := results[h]
			if r.state == messages.HostOK {
				out[h] = nil
			} else {
				out[h] = errors.New(r.state + ": " + r.msg)
			}
		}
		return out
	})
	for _, h := range report.NotStarted {
		rec.Hosts[index[h]].State = messages.HostNotStarted
	}
	switch {
	case report.Stopped != "":
		rec.State, rec.Stopped = messages.JobStopped, report.Stopped
	case len(report.Failed) > 0:
		rec.State = messages.JobFailed
	default:
		rec.State = messages.JobSucceeded
	}
	rec.Finished = time.Now().UnixMilli()
	rec.Updated = rec.Finished
	c.metrics.JobFinished(rec.State)
	if err := c.putJob(context.Background(), &rec); err != nil {
		c.logger.Error("job result not stored", "job", rec.ID, "err", err)
	}
	c.logger.Info("job finished", "job", rec.ID, "state", rec.State, "ok", rec.Count(messages.HostOK),
		"failed", rec.Count(messages.HostFailed), "not_reached", rec.Count(messages.HostNotReached),
		"not_started", rec.Count(messages.HostNotStarted))
}

type stepResult struct {
	state, msg, stepID string
	// result is the host's reply payload when it fits a job record.
	result json.RawMessage
}

// jobStep sends one signed command to a batch and accounts for each host.
// A host that registers while the step waits for it (it reconnected, or
// its agent restarted, after the first copy went into a dead connection)
// gets the very same command again, and so does a host that did not
// answer if time is left: the command id is the step's idempotency key,
// so an agent that already ran it, even before a restart, answers from
// its result cache instead of running it twice.
func (c *Controller) jobStep(ctx context.Context, jobID, verb string, payload any, batch []string, step time.Duration) map[string]stepResult {
	for _, h := range batch {
		c.publishEvent(messages.Event{Host: h, Type: messages.EventJobStepStarted, Severity: messages.SeverityInfo,
			RequestID: jobID, Message: verb + " started"})
	}
	out := make(map[string]stepResult, len(batch))
	env, fr, err := c.runCommand(ctx, command{verb: verb, targets: batch, hosts: batch, payload: payload, ttl: step, resend: true})
	if err != nil {
		for _, h := range batch {
			out[h] = stepResult{state: messages.HostFailed, msg: err.Error()}
		}
		return out
	}
	var retry []string
	for _, h := range batch {
		if fr.missing[h] == messages.ReasonNoReply {
			retry = append(retry, h)
		}
	}
	if len(retry) > 0 && time.Now().UnixMilli() < env.ExpiresAt {
		data, _ := json.Marshal(env)
		rctx, cancel := context.WithDeadline(ctx, time.UnixMilli(env.ExpiresAt))
		again, err := fanout(rctx, c.nc, data, retry, nil, nil)
		cancel()
		if err == nil {
			for h, r := range again.replies {
				fr.replies[h] = r
				delete(fr.missing, h)
			}
		}
	}
	for _, h := range batch {
		r := stepResult{stepID: env.ID}
		if rep, ok := fr.replies[h]; ok {
			// An agent that already ran the step (a re-send reached it,
			// maybe a new process of it) refuses it as a replay and
			// tells its first outcome.
			if e := rep.reply.Error; e != nil && e.Code == messages.CodeReplayed && rep.reply.Previous != nil {
				rep.reply = *rep.reply.Previous
			}
			if rep.reply.Error == nil {
				r.state = messages.HostOK
			} else {
				r.state, r.msg = messages.HostFailed, rep.reply.Error.Message
			}
			if p := rep.reply.Payload; len(p) > 0 && len(p) <= messages.MaxJobResultBytes && json.Valid(p) {
				r.result = p
			}
		} else {
			r.state, r.msg = messages.HostNotReached, fr.missing[h]
		}
		out[h] = r
	}
	if verb == messages.VerbAgentUpgrade {
		c.awaitAgentUpgrades(ctx, payload, out)
	}
	for _, h := range batch {
		r := out[h]
		typ, sev := messages.EventJobStepFinished, messages.SeverityInfo
		if r.state != messages.HostOK {
			typ, sev = messages.EventJobStepFailed, messages.SeverityWarning
		}
		c.publishEvent(messages.Event{Host: h, Type: typ, Severity: sev, RequestID: jobID,
			Message: fmt.Sprintf("%s %s %s", verb, r.state, r.msg)})
	}
	return out
}

func (c *Controller) putJob(ctx context.Context, rec *messages.JobRecord) error {
	kv, err := c.jobsKV(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(rec)
	if _, err := kv.Put(ctx, rec.ID, b); err != nil {
		return fmt.Errorf("store job %s: %w", rec.ID, err)
	}
	return nil
}

// ShowJob returns one job with its per-host results.
func (c *Controller) ShowJob(ctx context.Context, req messages.JobShowRequest) (messages.JobRecord, error) {
	var rec messages.JobRecord
	kv, err := c.jobsKV(ctx)
	if err != nil {
		return rec, err
	}
	e, err := kv.Get(ctx, req.ID)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return rec, &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf("no job %q; see foundry job list", req.ID)}
	}
	if err != nil {
		return rec, err
	}
	err = json.Unmarshal(e.Value(), &rec)
	return rec, err
}

// ListJobs returns the stored jobs, newest first, without host detail.
func (c *Controller) ListJobs(ctx context.Context, _ messages.JobListRequest) (messages.JobListResult, error) {
	res := messages.JobListResult{Jobs: []messages.JobRecord{}}
	kv, err := c.jobsKV(ctx)
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
		var rec messages.JobRecord
		if json.Unmarshal(e.Value(), &rec) != nil {
			continue
		}
		hosts := rec.Hosts
		rec.Hosts = nil
		// Keep the counts visible without the detail.
		for _, h := range hosts {
			rec.Hosts = append(rec.Hosts, messages.JobHost{State: h.State})
		}
		res.Jobs = append(res.Jobs, rec)
	}
	sort.Slice(res.Jobs, func(i, j int) bool { return res.Jobs[i].Created > res.Jobs[j].Created })
	return res, nil
}
