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
	payload, err := h(ctx, env)
	r := a.reply(m, messages.Reply{V: messages.Version, ID: env.ID, Host: a.cfg.ID, Error: messages.AsError(err)}, payload)
	a.results.put(env.ID, env.ExpiresAt, r)
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

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// reply builds the reply (with payload) and sends it when the message
// asked for one; it returns what was sent so it can be cached.
func (a *Agent) reply(m *nats.Msg, r messages.Reply, payload any) messages.Reply {
	if payload != nil && r.Error == nil {
		b, err := json.Marshal(payload)
		if err != nil {
			r.Error = messages.AsError(err)
		} else {
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
	b, _ := json.Marshal(r)
	if err := m.Respond(b); err != nil {
		a.logger.Warn("reply not sent", "id", r.ID, "err", err)
	}
}

func (a *Agent) handleStatus(ctx context.Context, _ *messages.Envelope) (any, error) {
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
