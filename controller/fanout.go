package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/messages"
)

// hostReply is one host's decoded answer and how long it took.
type hostReply struct {
	reply   messages.Reply
	latency time.Duration
}

// fanoutResult accounts for every targeted host: each ends up in exactly
// one of replies or missing.
type fanoutResult struct {
	replies  map[string]hostReply
	missing  map[string]string
	timedOut bool
	elapsed  time.Duration
	// resent are the hosts the command was sent to again because they
	// registered while it waited for them (see fanout's resend).
	resent []string
}

// broadcast sends a command once, on the subject every agent hears,
// instead of once per host. connected tells whether a host's agent is
// subscribed anywhere in the cluster right now; a host that is not is
// missing at once, as "no responders" tells for a per-host send. The
// answers come through mux, matched by the command id.
type broadcast struct {
	id        string
	mux       *replyMux
	connected func(host string) bool
}

// fanout sends one signed command to hosts and collects their replies.
//
// Sent per host (b == nil), each message goes to the host's own subject
// with a reply subject that ends in the host id. Because an agent may only
// answer the reply subject of a message it received, the reply subject
// proves which host answered; and because the server answers at once with
// "no responders" for a host that is not subscribed, a disconnected host
// is known missing without waiting.
//
// Broadcast, one message reaches every agent (one copy per route in a
// cluster instead of one per host), and each answers on the reply subject
// plus its own id, the only reply subject its permissions allow, so the
// subject proves the host here too. Answers from hosts not in hosts are
// dropped; the envelope's targets decide whether they run it at all.
//
// The call returns as soon as every host is accounted for; ctx's deadline
// is only the upper bound.
//
// resend (per-host sends only; nil for none) names hosts that registered
// while the fan-out runs: one still unanswered gets the same message again
// on its new connection, since the first copy may have gone into a
// connection that died without the server noticing. The command id makes
// that safe: an agent that already has it refuses it as a replay and
// tells its first outcome.
func fanout(ctx context.Context, nc *nats.Conn, data []byte, hosts []string, b *broadcast, resend <-chan string) (fanoutResult, error) {
	res := fanoutResult{replies: make(map[string]hostReply, len(hosts)), missing: map[string]string{}}
	if len(hosts) == 0 {
		return res, nil
	}
	start := time.Now()
	pending := make(map[string]struct{}, len(hosts))
	for _, h := range hosts {
		pending[h] = struct{}{}
	}
	var mu sync.Mutex
	done := make(chan struct{})
	settle := func(host string, fn func()) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := pending[host]; !ok {
			return // duplicate or unexpected answer
		}
		delete(pending, host)
		fn()
		if len(pending) == 0 {
			close(done)
		}
	}
	answered := func(host string, rep messages.Reply) {
		lat := time.Since(start)
		settle(host, func() { res.replies[host] = hostReply{reply: rep, latency: lat} })
	}

	var inbox string // per-host sends only
	if b != nil {
		b.mux.wait(b.id, answered)
		defer b.mux.forget(b.id)
	} else {
		inbox = nc.NewInbox()
		sub, err := nc.Subscribe(inbox+".*", func(m *nats.Msg) {
			host := lastToken(m.Subject)
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				settle(host, func() { res.missing[host] = messages.ReasonNotConnected })
				return
			}
			answered(host, decodeReply(host, m.Data))
		})
		if err != nil {
			return res, fmt.Errorf("subscribe to replies: %w", err)
		}
		defer sub.Unsubscribe()
		_ = sub.SetPendingLimits(-1, -1)
	}

	for _, h := range hosts {
		subj, err := messages.CommandSubject(h)
		switch {
		case err != nil:
			settle(h, func() { res.missing[h] = err.Error() })
			continue
		case b == nil:
			err = nc.PublishMsg(&nats.Msg{Subject: subj, Reply: inbox + "." + h, Data: data})
		case !b.connected(h):
			settle(h, func() { res.missing[h] = messages.ReasonNotConnected })
		}
		if err != nil {
			return res, fmt.Errorf("publish command: %w", err)
		}
	}
	mu.Lock()
	left := len(pending)
	mu.Unlock()
	if b != nil && left > 0 {
		if err := nc.PublishMsg(&nats.Msg{Subject: messages.BroadcastSubject(), Reply: b.mux.subject, Data: data}); err != nil {
			return res, fmt.Errorf("publish command: %w", err)
		}
	}
	if err := nc.FlushWithContext(ctx); err != nil && ctx.Err() == nil {
		return res, fmt.Errorf("flush commands: %w", err)
	}
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case h := <-resend:
			mu.Lock()
			_, unanswered := pending[h]
			mu.Unlock()
			subj, err := messages.CommandSubject(h)
			if !unanswered || b != nil || err != nil {
				continue
			}
			if err := nc.PublishMsg(&nats.Msg{Subject: subj, Reply: inbox + "." + h, Data: data}); err == nil {
				mu.Lock()
				res.resent = append(res.resent, h)
				mu.Unlock()
			}
		case <-ctx.Done():
			mu.Lock()
			for h := range pending {
				res.missing[h] = messages.ReasonNoReply
			}
			pending = map[string]struct{}{}
			res.timedOut = true
			mu.Unlock()
			waiting = false
		}
	}
	res.elapsed = time.Since(start)
	return res, nil
}

func lastToken(subject string) string { return subject[strings.LastIndexByte(subject, '.')+1:] }

// decodeReply turns an answer that does not decode into that host's error.
func decodeReply(host string, data []byte) messages.Reply {
	rep, err := messages.DecodeReply(data)
	if err != nil {
		return messages.Reply{Host: host, Error: messages.AsError(fmt.Errorf("unreadable reply: %w", err))}
	}
	return rep
}

// replyMux receives the answers to all of this controller's broadcasts on
// one subscription, ReplyPrefix.<nonce>.*, and hands each to the fan-out
// waiting for its command id. The reply subject stays the same for the
// controller's lifetime, one per agent rather than one per command,
// because nats-server caches every distinct subject a client publishes on
// for its permission check: a fresh subject per command would grow that
// cache on every agent connection.
type replyMux struct {
	subject string // the reply subject of every broadcast

	mu      sync.Mutex
	waiting map[string]func(host string, r messages.Reply)
}

func startReplyMux(nc *nats.Conn, nonce string) (*replyMux, error) {
	m := &replyMux{subject: messages.ReplyPrefix + "." + nonce, waiting: map[string]func(string, messages.Reply){}}
	sub, err := nc.Subscribe(m.subject+".*", func(msg *nats.Msg) {
		host := lastToken(msg.Subject)
		rep, err := messages.DecodeReply(msg.Data)
		if err != nil {
			return // no command id to match: the host stays unanswered until the timeout
		}
		m.mu.Lock()
		fn := m.waiting[rep.ID]
		m.mu.Unlock()
		if fn != nil {
			fn(host, rep)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to broadcast replies: %w", err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	return m, nil
}

func (m *replyMux) wait(id string, fn func(host string, r messages.Reply)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waiting[id] = fn
}

func (m *replyMux) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.waiting, id)
}
