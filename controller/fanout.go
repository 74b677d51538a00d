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
}

// fanout publishes one signed command to each host's own subject, each
// with a reply subject that ends in the host id. Because an agent may only
// answer the reply subject of a message it received, the reply subject
// proves which host answered; and because the server answers at once with
// "no responders" for a host that is not subscribed, a disconnected host
// is known missing without waiting. The call returns as soon as every host
// is accounted for; ctx's deadline is only the upper bound.
func fanout(ctx context.Context, nc *nats.Conn, data []byte, hosts []string) (fanoutResult, error) {
	res := fanoutResult{replies: make(map[string]hostReply, len(hosts)), missing: map[string]string{}}
	if len(hosts) == 0 {
		return res, nil
	}
	inbox := nc.NewInbox()
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
	sub, err := nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		host := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			settle(host, func() { res.missing[host] = messages.ReasonNotConnected })
			return
		}
		rep, err := messages.DecodeReply(m.Data)
		if err != nil {
			rep = messages.Reply{Host: host, Error: messages.AsError(fmt.Errorf("unreadable reply: %w", err))}
		}
		lat := time.Since(start)
		settle(host, func() { res.replies[host] = hostReply{reply: rep, latency: lat} })
	})
	if err != nil {
		return res, fmt.Errorf("subscribe to replies: %w", err)
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)

	for _, h := range hosts {
		subj, err := messages.CommandSubject(h)
		if err != nil {
			settle(h, func() { res.missing[h] = err.Error() })
			continue
		}
		if err := nc.PublishMsg(&nats.Msg{Subject: subj, Reply: inbox + "." + h, Data: data}); err != nil {
			return res, fmt.Errorf("publish command: %w", err)
		}
	}
	if err := nc.FlushWithContext(ctx); err != nil && ctx.Err() == nil {
		return res, fmt.Errorf("flush commands: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		for h := range pending {
			res.missing[h] = messages.ReasonNoReply
		}
		pending = map[string]struct{}{}
		res.timedOut = true
		mu.Unlock()
	}
	res.elapsed = time.Since(start)
	return res, nil
}
