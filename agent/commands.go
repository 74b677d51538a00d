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
// not a valid, signed, fresh command for this host is refused with an
// error reply and an event, and never reaches a handler.
func (a *Agent) handleCommand(ctx context.Context, m *nats.Msg) {
	env, err := messages.DecodeEnvelope(m.Data)
	if err == nil {
		err = a.verifier.Verify(env, a.cfg.ID)
	}
	id := ""
	if env != nil {
		id = env.ID
	}
	if err != nil {
		a.refuse(m, id, err)
		return
	}
	h, ok := a.handlers[env.Verb]
	if !ok {
		a.refuse(m, id, &messages.Error{Code: messages.CodeUnknownVerb, Message: fmt.Sprintf("verb %q is not supported by agent %s", env.Verb, a.opts.Version)})
		return
	}
	a.logger.Debug("command accepted", "id", env.ID, "verb", env.Verb, "from", env.Sender)
	payload, err := h(ctx, env)
	a.reply(m, messages.Reply{V: messages.Version, ID: env.ID, Host: a.cfg.ID, Error: messages.AsError(err)}, payload)
}

func (a *Agent) refuse(m *nats.Msg, id string, err error) {
	we := messages.AsError(err)
	if a.refusals.allow() {
		a.logger.Warn("command refused", "id", id, "code", we.Code, "reason", we.Message, "subject", m.Subject)
		a.publishEvent(messages.EventCmdRefused, messages.SeverityWarning, we.Message, id, map[string]string{"code": we.Code})
	}
	a.reply(m, messages.Reply{V: messages.Version, ID: id, Host: a.cfg.ID, Error: we}, nil)
}

func (a *Agent) reply(m *nats.Msg, r messages.Reply, payload any) {
	if m.Reply == "" {
		return
	}
	if payload != nil && r.Error == nil {
		b, err := json.Marshal(payload)
		if err != nil {
			r.Error = messages.AsError(err)
		} else {
			r.Payload = b
		}
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
