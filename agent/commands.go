package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/messages"
)

// handleCommand decodes, verifies and runs one command. Anything that is
// not a valid, signed, fresh command for this host, or that asks for a
// write on behalf of a read-only operator, is refused with an error reply
// and an event, and never reaches a handler. Accepted commands are logged
// at INFO with the same fields a refusal carries, so the journal is the
// host-side audit trail.
func (a *Agent) handleCommand(ctx context.Context, m *nats.Msg) {
	env, err := messages.DecodeEnvelope(m.Data)
	if err == nil {
		err = a.verifier.Verify(env, a.cfg.ID)
	}
	if err != nil {
		var prev *messages.Reply
		if messages.CodeOf(err) == messages.CodeReplayed {
			if r, ok := a.results.get(env.ID); ok {
				prev = &r // refused, never run twice, but the first outcome is told
			}
		}
		a.refuseWith(m, env, err, prev)
		return
	}
	h, ok := a.handlers[env.Verb]
	if !ok {
		a.refuse(m, env, &messages.Error{Code: messages.CodeUnknownVerb, Message: fmt.Sprintf("verb %q is not supported by agent %s", env.Verb, a.opts.Version)})
		return
	}
	if !messages.VerbAllowed(env.Verb, env.Role) {
		a.refuse(m, env, &messages.Error{Code: messages.CodeForbidden, Message: fmt.Sprintf(
			"verb %q needs an admin operator, and operator %q is %q; ask an admin", env.Verb, env.Operator, roleOrNone(env.Role))})
		return
	}
	a.logger.Info("command accepted", commandAttrs(env)...)
	a.commands.accepted(env)
	run := func(ctx context.Context) {
		payload, err := h(ctx, env)
		r := a.reply(m, messages.Reply{V: messages.Version, ID: env.ID, Host: a.cfg.ID, Error: messages.AsError(err)}, payload)
		a.results.put(env.ID, env.ExpiresAt, r)
		a.commands.finished(env, r)
		a.counters.ran(r.Error)
		a.afterReply()
	}
	if !isServiceVerb(env.Verb) {
		run(ctx)
		return
	}
	// Service operations take seconds to minutes (fetches, restarts,
	// health checks); they run beside the subscription so status,
	// liveness and trust commands are never stuck behind them.
	if a.queued.Add(1) > maxQueuedServiceOps {
		a.queued.Add(-1)
		a.refuse(m, env, &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
			"agent %s has %d service operations waiting; retry later", a.cfg.ID, maxQueuedServiceOps)})
		return
	}
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		defer a.queued.Add(-1)
		// A command is not worth finishing after it expired: nobody waits
		// for the answer and the replay cache forgets it.
		sctx, cancel := context.WithDeadline(ctx, time.UnixMilli(env.ExpiresAt))
		defer cancel()
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		case <-sctx.Done():
			r := a.reply(m, messages.Reply{V: messages.Version, ID: env.ID, Host: a.cfg.ID, Error: &messages.Error{
				Code: messages.CodeUnavailable, Message: fmt.Sprintf("%s did not start: agent %s was busy with %d other service operations until the command expired; retry",
					env.Verb, a.cfg.ID, maxServiceOps)}}, nil)
			a.results.put(env.ID, env.ExpiresAt, r)
			a.commands.finished(env, r)
			a.counters.refusedWith(messages.CodeUnavailable)
			return
		}
		run(sctx)
	}()
}

// Service verb bounds: how many run at once, how many may wait, and how
// long a stopping agent waits for them to finish or roll back.
const (
	maxServiceOps       = 4
	maxQueuedServiceOps = 64
	serviceStopWait     = 30 * time.Second
)

// ServiceRunner executes the host service verbs (package service).
type ServiceRunner interface {
	Apply(ctx context.Context, spec messages.ServiceSpec) (messages.ServiceApplyReply, error)
	Plan(ctx context.Context, spec messages.ServiceSpec) (messages.ServiceApplyReply, error)
	Status(ctx context.Context, q messages.ServiceQuery) (messages.ServiceStatus, error)
	Remove(ctx context.Context, q messages.ServiceQuery) (messages.ServiceRemoveReply, error)
	K3sKubeconfig(ctx context.Context, host string, req messages.K3sKubeconfigRequest) (messages.K3sKubeconfigReply, error)
}

// isServiceVerb says verb takes long (fetches, restarts) and runs beside
// the subscription; an agent upgrade is one.
func isServiceVerb(verb string) bool {
	switch verb {
	case messages.VerbAgentUpgrade, messages.VerbServiceApply, messages.VerbServicePlan, messages.VerbServiceStatus, messages.VerbServiceRemove:
		return true
	}
	return false
}

// waitServices waits up to d for running service operations.
func (a *Agent) waitServices(d time.Duration) {
	done := make(chan struct{})
	go func() { a.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		a.logger.Warn("service operations still running at stop", "waited", d)
	}
}

// The service handlers return their reply payload also with an error: a
// failed apply tells which steps ran and whether it rolled back.

func (a *Agent) handleServiceApply(ctx context.Context, env *messages.Envelope) (any, error) {
	spec, err := messages.DecodeServiceSpec(env.Payload)
	if err != nil {
		return nil, err
	}
	return a.services.Apply(ctx, spec)
}

func (a *Agent) handleServicePlan(ctx context.Context, env *messages.Envelope) (any, error) {
	spec, err := messages.DecodeServiceSpec(env.Payload)
	if err != nil {
		return nil, err
	}
	return a.services.Plan(ctx, spec)
}

func (a *Agent) handleServiceStatus(ctx context.Context, env *messages.Envelope) (any, error) {
	q, err := messages.DecodeServiceQuery(env.Payload)
	if err != nil {
		return nil, err
	}
	return a.services.Status(ctx, q)
}

func (a *Agent) handleServiceRemove(ctx context.Context, env *messages.Envelope) (any, error) {
	q, err := messages.DecodeServiceQuery(env.Payload)
	if err != nil {
		return nil, err
	}
	return a.services.Remove(ctx, q)
}

// handleK3sKubeconfig answers with the kubeconfig sealed to the caller's
// one-call key; the payload is a public key and the answer ciphertext.
func (a *Agent) handleK3sKubeconfig(ctx context.Context, env *messages.Envelope) (any, error) {
	req, err := messages.DecodeK3sKubeconfigRequest(env.Payload)
	if err != nil {
		return nil, err
	}
	r, err := a.services.K3sKubeconfig(ctx, a.cfg.ID, req)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func roleOrNone(r string) string {
	if r == "" {
		return "none"
	}
	return r
}

// commandAttrs are the audit fields of a command for the journal. They are
// the envelope's own fields; the payload is never logged.
func commandAttrs(env *messages.Envelope) []any {
	return []any{"id", env.ID, "verb", env.Verb, "operator", env.Operator, "role", env.Role,
		"targets", env.Targets, "from", env.Sender, "kid", env.KeyID, "expires", time.UnixMilli(env.ExpiresAt).UTC()}
}

// refuse answers a refused command with an error, and logs and publishes
// it (rate-limited, so a flood of garbage cannot flood the journal or the
// events stream). env is nil when the message did not even decode; then
// only the error is known, and the fields of an envelope that failed
// verification are what it claimed, not facts.
func (a *Agent) refuse(m *nats.Msg, env *messages.Envelope, err error) {
	a.refuseWith(m, env, err, nil)
}

func (a *Agent) refuseWith(m *nats.Msg, env *messages.Envelope, err error, prev *messages.Reply) {
	we := messages.AsError(err)
	a.counters.refusedWith(we.Code)
	id := ""
	fields := map[string]string{"code": we.Code}
	attrs := []any{"code", we.Code, "reason", we.Message, "subject", m.Subject}
	if env != nil {
		id = env.ID
		fields["verb"], fields["operator"], fields["role"] = clip(env.Verb, 64), clip(env.Operator, 64), clip(env.Role, 16)
		attrs = append(attrs, commandAttrs(env)...)
	}
	if a.refusals.allow() {
		a.logger.Warn("command refused", attrs...)
		a.publishEvent(messages.EventCmdRefused, messages.SeverityWarning, we.Message, clip(id, 64), fields)
	}
	a.send(m, messages.Reply{V: messages.Version, ID: clip(id, 64), Host: a.cfg.ID, Error: we, Previous: prev})
}

// encodeReplyWithin encodes r, or, when that is over max bytes, an error
// reply saying so: the controller would refuse the larger one unread and
// the server would cut the connection for it (MaxAgentPublishBytes).
func encodeReplyWithin(r messages.Reply, max int) ([]byte, error) {
	b, err := messages.EncodeReply(r)
	if err != nil || len(b) <= max {
		return b, err
	}
	r.Payload, r.Previous = nil, nil
	r.Error = &messages.Error{Code: messages.CodeInternal,
		Message: fmt.Sprintf("the reply is %d bytes, over the %d-byte limit for a reply", len(b), max)}
	return messages.EncodeReply(r)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// reply builds the reply (with payload) and sends it when the message
// asked for one; it returns what was sent so it can be cached. A payload
// given with an error goes too (what a failed service apply did).
func (a *Agent) reply(m *nats.Msg, r messages.Reply, payload any) messages.Reply {
	if payload != nil {
		b, err := json.Marshal(payload)
		switch {
		case r.Error == nil && err != nil:
			r.Error = messages.AsError(err)
		case r.Error == nil:
			r.Payload = b
		case err == nil && len(b) <= messages.MaxReplyBytes/2: // beside an error only when small
			r.Payload = b
		}
	}
	a.send(m, r)
	return r
}

func (a *Agent) send(m *nats.Msg, r messages.Reply) {
	if m.Reply == "" {
		return
	}
	b, err := encodeReplyWithin(r, messages.MaxReplyBytes)
	if err != nil {
		a.logger.Warn("reply not sent", "id", r.ID, "err", err)
		return
	}
	if m.Subject == messages.BroadcastSubject() {
		// Every agent hears a broadcast, so each answers on its own
		// subject under the reply prefix; the server lets it publish
		// on no other.
		var subj string
		if subj, err = messages.BroadcastReplySubject(m.Reply, a.cfg.ID); err == nil {
			err = a.conn().Publish(subj, b)
		}
	} else {
		err = m.Respond(b)
	}
	if err != nil {
		a.logger.Warn("reply not sent", "id", r.ID, "err", err)
	}
}

func (a *Agent) handleStatus(ctx context.Context, env *messages.Envelope) (any, error) {
	var req messages.StatusRequest
	if len(env.Payload) > 0 && string(env.Payload) != "null" {
		if err := json.Unmarshal(env.Payload, &req); err != nil {
			return nil, &messages.Error{Code: messages.CodeBadRequest, Message: "status request: " + err.Error()}
		}
	}
	if req.Brief {
		return nil, nil // the reply itself says the host is there and verified the command
	}
	f := a.opts.Facts(ctx)
	return messages.StatusReply{Hostname: f.Hostname, MachineID: f.MachineID, AgentVersion: a.opts.Version,
		StartedAt: a.started.UnixMilli(), Facts: f}, nil
}

// limiter caps how many refusals per window are logged and turned into
// events, so a flood of garbage cannot flood the journal or the stream.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	start  time.Time
	n      int
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window}
}

func (l *limiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) > l.window {
		l.start, l.n = now, 0
	}
	l.n++
	return l.n <= l.max
}
