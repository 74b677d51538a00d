package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// Audit stream limits: long enough for an incident review, bounded so a
// flood of refusals cannot fill the disk.
const (
	auditMaxAge   = 90 * 24 * time.Hour
	auditMaxBytes = 1 << 30

	// auditQueue bounds best-effort records waiting to be written; when it
	// is full, records are counted and dropped rather than blocking the
	// server's goroutines.
	auditQueue = 1024
	// Best-effort records (refusals, violations) per second, in total and
	// per identity; beyond that they are counted as dropped.
	auditRate        = 200
	auditRatePerHost = 20
)

func ensureAuditStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        messages.AuditStream,
		Description: "who did what to which hosts, accepted or refused",
		Subjects:    []string{messages.AuditWildcard},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      auditMaxAge,
		MaxBytes:    auditMaxBytes,
		MaxMsgSize:  messages.MaxAuditBytes,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		DenyDelete:  true,
		DenyPurge:   true,
		// Operators read it with consumers they create themselves.
		MaxConsumers:   readerMaxConsumers,
		ConsumerLimits: readerConsumerLimits,
	})
	return err
}

// auditor writes the audit trail. Records that gate an action (a command
// about to be sent) are written synchronously and must be stored, or the
// action does not happen; records of refusals are written from a bounded
// queue so that a flood can neither block nor grow without bound.
type auditor struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	logger *slog.Logger
	queue  chan messages.AuditRecord
	done   chan struct{} // closed when run returns
	total  *limiter
	per    *keyedLimiter

	mu      sync.Mutex
	dropped uint64
}

// newAuditor makes an auditor that can queue records at once (the NATS
// server may report violations before JetStream is up); attach and run
// start writing them.
func newAuditor(logger *slog.Logger) *auditor {
	return &auditor{logger: logger, queue: make(chan messages.AuditRecord, auditQueue), done: make(chan struct{}),
		total: newLimiter(auditRate, time.Second), per: newKeyedLimiter(auditRatePerHost, time.Second)}
}

// attach gives the auditor its connection; call it before run and before
// any call to record.
func (a *auditor) attach(js jetstream.JetStream, nc *nats.Conn) { a.js, a.nc = js, nc }

func (a *auditor) encode(r *messages.AuditRecord) (string, []byte, error) {
	r.V = messages.Version
	if r.Time == 0 {
		r.Time = time.Now().UnixMilli()
	}
	op := r.Operator
	if op == "" {
		op = messages.NoOperator
		r.Operator = op
	}
	subj, err := messages.AuditSubject(r.Source, op)
	if err != nil {
		return "", nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "", nil, err
	}
	if len(b) > messages.MaxAuditBytes {
		// Keep the record, lose the per-host detail, say so.
		r.Message = fmt.Sprintf("%s (per-host outcomes of %d hosts left out: record too large)", r.Message, len(r.Hosts))
		r.Hosts = nil
		b, _ = json.Marshal(r)
	}
	return subj, b, nil
}

// record writes r and waits for the stream to store it.
func (a *auditor) record(ctx context.Context, r messages.AuditRecord) error {
	subj, b, err := a.encode(&r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := a.js.Publish(ctx, subj, b); err != nil {
		return &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf("audit trail unavailable (%v); nothing was sent, retry once JetStream is healthy", err)}
	}
	return nil
}

// note queues r without waiting; key rate-limits one identity's records.
// The identity's own limit is checked first, so one identity's flood
// cannot use up the total budget and silence everyone else.
func (a *auditor) note(key string, r messages.AuditRecord) {
	if !a.per.allow(key) || !a.total.allow() {
		a.drop()
		return
	}
	select {
	case a.queue <- r:
	default:
		a.drop()
	}
}

func (a *auditor) drop() {
	a.mu.Lock()
	a.dropped++
	n := a.dropped
	a.mu.Unlock()
	if n == 1 || n%1000 == 0 {
		a.logger.Warn("audit records dropped under load", "dropped_total", n)
	}
}

// run writes queued records until ctx ends.
func (a *auditor) run(ctx context.Context) {
	defer close(a.done)
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-a.queue:
			subj, b, err := a.encode(&r)
			if err != nil {
				a.logger.Warn("audit record not written", "err", err)
				continue
			}
			if err := a.nc.Publish(subj, b); err != nil {
				a.logger.Warn("audit record not written", "err", err)
			}
		}
	}
}

// handleRefusalEvent links an agent's cmd_refused event into the audit
// trail. The host comes from the subject (NATS permissions tie it to the
// agent's identity); everything else is the agent's word about a command
// it refused, so it is bounded and labelled as such.
func (c *Controller) handleRefusalEvent(m *nats.Msg) {
	host, err := messages.HostFromSubject(messages.EventPrefix, m.Subject)
	if err != nil {
		return
	}
	ev, err := messages.DecodeEvent(m.Data)
	if err != nil {
		c.audit.note("host:"+host, messages.AuditRecord{Source: messages.AuditSourceAgent, Host: host,
			Operator: messages.UnknownOperator, Action: "cmd_refused", Outcome: messages.OutcomeRefused,
			Code: messages.CodeBadRequest, Message: "agent sent an unreadable refusal event"})
		return
	}
	claimed := ev.Fields["operator"]
	if messages.ValidOperatorName(claimed) != nil && claimed != messages.SystemOperator {
		claimed = ""
	}
	rec := messages.AuditRecord{Source: messages.AuditSourceAgent, Host: host, Operator: messages.UnknownOperator,
		RequestID: clip(ev.RequestID, 64), Role: clip(ev.Fields["role"], 16), Verb: clip(ev.Fields["verb"], 64),
		Action: "command", Outcome: messages.OutcomeRefused, Code: clip(ev.Fields["code"], 32),
		Message: "refused by agent: " + clip(ev.Message, 512), Targets: []string{host}}
	// The controller knows whom a command it signed was for; the agent
	// only says so. Its word is kept apart (OperatorClaimed) when it
	// cannot be checked or does not match.
	if cmd, ok := c.issued.get(ev.RequestID); ok {
		rec.Operator, rec.Role, rec.Verb = cmd.operator, cmd.role, cmd.verb
		if claimed != cmd.operator {
			rec.OperatorClaimed = claimed
		}
	} else {
		rec.OperatorClaimed = claimed
	}
	c.audit.note("host:"+host, rec)
}

// noteViolation turns a server log line about a permission violation
// into an audit record: a read-only operator trying a write endpoint, or
// an agent trying another host's subjects, is on the record even though
// the controller never saw the message.
func (c *Controller) noteViolation(line string) {
	cid, op, subject, ok := parseViolation(line)
	if !ok {
		return
	}
	id, ok := c.auth.byClient(cid)
	if !ok {
		return
	}
	rec := messages.AuditRecord{Source: messages.AuditSourceServer, Action: op + " " + subject,
		Outcome: messages.OutcomeRefused, Code: messages.CodeForbidden,
		Message: fmt.Sprintf("NATS permissions do not allow %s %s to %s %s", id.Kind, id.Name, op, subject)}
	switch id.Kind {
	case KindOperator:
		rec.Operator, rec.OperatorKey, rec.Role = id.Name, id.PublicKey, id.Role
	case KindAgent:
		rec.Host = id.Name
	}
	c.audit.note(id.PublicKey, rec)
}

// parseViolation reads the client id, operation ("publish" or
// "subscribe") and subject from nats-server's permission violation log
// line, the only place the server reports one; the client id maps to the
// identity through the authenticator. It is a plain scan, not a regular
// expression: a bounded repetition made the pattern slow on long lines,
// and bounded it in runes where the record's limit is in bytes (found by
// FuzzParseViolation).
func parseViolation(line string) (cid uint64, op, subject string, ok bool) {
	i := strings.Index(line, "cid:")
	if i < 0 {
		return 0, "", "", false
	}
	rest := line[i+len("cid:"):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || (n < len(rest) && isWordByte(rest[n])) {
		return 0, "", "", false
	}
	cid, err := strconv.ParseUint(rest[:n], 10, 64)
	if err != nil {
		return 0, "", "", false
	}
	rest = rest[n:]
	for _, k := range []struct{ marker, op string }{
		{"Publish Violation - Subject \"", "publish"},
		{"Subscription Violation - Subject \"", "subscribe"},
	} {
		j := strings.Index(rest, k.marker)
		if j < 0 || (j > 0 && isWordByte(rest[j-1])) {
			continue
		}
		sub := rest[j+len(k.marker):]
		end := strings.IndexByte(sub, '"')
		if end < 0 || end > 512 {
			return 0, "", "", false
		}
		return cid, k.op, sub[:end], true
	}
	return 0, "", "", false
}

func isWordByte(b byte) bool {
	return b == '_' || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// keyedLimiter is a limiter per key; keys that were quiet for a window
// are forgotten, so the map holds only identities active right now.
type keyedLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	m      map[string]*limiter
	sweep  time.Time
}

func newKeyedLimiter(max int, window time.Duration) *keyedLimiter {
	return &keyedLimiter{max: max, window: window, m: map[string]*limiter{}}
}

func (k *keyedLimiter) allow(key string) bool {
	k.mu.Lock()
	now := time.Now()
	if now.Sub(k.sweep) > 10*k.window {
		for key, l := range k.m {
			if now.Sub(l.started()) > k.window {
				delete(k.m, key)
			}
		}
		k.sweep = now
	}
	l, ok := k.m[key]
	if !ok {
		l = newLimiter(k.max, k.window)
		k.m[key] = l
	}
	k.mu.Unlock()
	return l.allow()
}

// limiter allows max events per fixed window.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	start  time.Time
	n      int
}

func newLimiter(max int, window time.Duration) *limiter { return &limiter{max: max, window: window} }

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

func (l *limiter) started() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start
}
