package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// command is one signed command to send to a set of hosts.
type command struct {
	verb    string
	targets []string // envelope targets (the hosts, or TargetAll)
	hosts   []string // hosts expected to answer
	payload any
	ttl     time.Duration
	// broadcast sends the command once to every agent instead of once
	// per host; only for targets TargetAll, where every agent that hears
	// it may run it.
	broadcast bool
	// signer overrides the current signing key (trust updates for hosts
	// that trust only a retired key).
	signer *messages.Signer
	// resend sends the command again to a host that registers before it
	// answered (job steps; see fanout).
	resend bool
}

// runCommand signs cmd on behalf of the context's operator, records it in
// the audit trail before anything is sent (no record, no command), fans it
// out, and records every host's outcome. The operator comes from the
// authenticated API call in ctx and nowhere else.
func (c *Controller) runCommand(ctx context.Context, cmd command) (*messages.Envelope, fanoutResult, error) {
	call, ok := callFrom(ctx)
	if !ok {
		return nil, fanoutResult{}, &messages.Error{Code: messages.CodeInternal, Message: "command has no operator; this is a controller bug, please report it"}
	}
	if !messages.VerbAllowed(cmd.verb, call.op.Role) {
		c.metrics.CommandRefused(messages.CodeForbidden)
		return nil, fanoutResult{}, &messages.Error{Code: messages.CodeForbidden,
			Message: fmt.Sprintf("operator %s (%s) may not send %s; ask an admin", call.op.Name, call.op.Role, cmd.verb)}
	}
	env, err := messages.NewEnvelope(time.Now(), cmd.ttl, "controller", cmd.verb, cmd.targets, cmd.payload)
	if err != nil {
		return nil, fanoutResult{}, err
	}
	env.Operator, env.Role = call.op.Name, call.op.Role
	signer := cmd.signer
	if signer == nil {
		signer = c.keys.current()
	}
	signer.Sign(env)
	c.issued.put(env)
	data, _ := json.Marshal(env)

	rec := messages.AuditRecord{Source: messages.AuditSourceCommand, RequestID: env.ID, APIRequestID: call.apiRequestID,
		Operator: call.op.Name, OperatorKey: call.op.PublicKey, Role: call.op.Role, Action: call.action,
		Verb: cmd.verb, Targets: cmd.hosts, Outcome: messages.OutcomeIssued}
	if err := c.audit.record(ctx, rec); err != nil {
		return nil, fanoutResult{}, err
	}
	call.mu.Lock()
	call.commandSent = true
	call.mu.Unlock()
	c.metrics.CommandSent(cmd.verb)

	fctx, cancel := context.WithTimeout(ctx, cmd.ttl)
	var b *broadcast
	if cmd.broadcast {
		b = &broadcast{id: env.ID, mux: c.bcast, connected: c.agentConnected}
	}
	ask, away := c.awayHosts(cmd.hosts, time.Now())
	var rejoined <-chan string
	if cmd.resend && b == nil {
		ch, stop := c.rejoins.watch(ask)
		defer stop()
		rejoined = ch
	}
	fr, err := fanout(fctx, c.nc, data, ask, b, rejoined)
	cancel()
	for _, h := range away {
		fr.missing[h] = messages.ReasonOffline
	}
	if len(fr.resent) > 0 {
		c.logger.Info("command sent again to hosts that came back", "request_id", env.ID, "verb", cmd.verb, "hosts", fr.resent)
		firstOutcomes(fr)
	}
	rec.Time = 0
	if err != nil {
		rec.Outcome, rec.Code, rec.Message = messages.OutcomeFailed, messages.CodeOf(err), err.Error()
	} else {
		rec.Outcome, rec.Hosts = commandOutcome(cmd.hosts, fr)
		c.metrics.CommandDone(cmd.verb, fr.elapsed, rec.Hosts)
	}
	if aerr := c.audit.record(context.Background(), rec); aerr != nil {
		c.logger.Warn("command result not audited", "request_id", env.ID, "err", aerr)
	}
	return env, fr, err
}

// awayHosts splits hosts into those to ask and those the registry has
// offline: silent for OfflineFactor intervals or stopped cleanly. Those
// are not asked (a frozen agent's connection can stay open for minutes,
// and every command would wait its whole timeout for it) but accounted
// as missing. Stale and disconnected hosts are asked: a stale one may
// still answer, and a disconnected one that reconnected meanwhile will;
// one that did not is known missing at once ("no responders").
func (c *Controller) awayHosts(hosts []string, now time.Time) (ask, away []string) {
	ask = hosts
	for i, h := range hosts {
		rec, ok := c.reg.get(h)
		if !ok || HostState(rec, now) != messages.StateOffline {
			if away != nil {
				ask = append(ask, h)
			}
			continue
		}
		if away == nil {
			ask = append(make([]string, 0, len(hosts)), hosts[:i]...)
		}
		away = append(away, h)
	}
	return ask, away
}

// firstOutcomes replaces each replay refusal that tells the first outcome
// by that outcome: a re-sent command reached an agent that had run it
// already (before its connection died, or before it restarted), and
// what counts, for the job and the audit trail, is what happened then.
func firstOutcomes(fr fanoutResult) {
	for h, r := range fr.replies {
		if e := r.reply.Error; e != nil && e.Code == messages.CodeReplayed && r.reply.Previous != nil {
			r.reply = *r.reply.Previous
			fr.replies[h] = r
		}
	}
}

// agentConnected reports whether host's agent is subscribed to its
// command subject on any server of the cluster this controller knows of:
// the same interest that makes the server answer "no responders".
func (c *Controller) agentConnected(host string) bool {
	subj, err := messages.CommandSubject(host)
	return err == nil && c.srv.GlobalAccount().SubscriptionInterest(subj)
}

// commandOutcome summarizes a fan-out for the audit trail.
func commandOutcome(hosts []string, fr fanoutResult) (string, []messages.AuditHost) {
	out := make([]messages.AuditHost, 0, len(hosts))
	ok := 0
	for _, h := range hosts {
		if r, found := fr.replies[h]; found {
			if r.reply.Error == nil {
				ok++
				out = append(out, messages.AuditHost{Host: h, Outcome: messages.OutcomeSucceeded})
				continue
			}
			outcome := messages.OutcomeFailed
			if refusalCode(r.reply.Error.Code) {
				outcome = messages.OutcomeRefused
			}
			out = append(out, messages.AuditHost{Host: h, Outcome: outcome, Code: r.reply.Error.Code, Message: clip(r.reply.Error.Message, 512)})
			continue
		}
		out = append(out, messages.AuditHost{Host: h, Outcome: messages.OutcomeMissing, Message: fr.missing[h]})
	}
	switch {
	case ok == len(hosts):
		return messages.OutcomeSucceeded, out
	case ok == 0:
		return messages.OutcomeFailed, out
	}
	return messages.OutcomePartial, out
}

// refusalCode reports whether an agent's error code means it refused the
// command (rather than tried and failed).
func refusalCode(code string) bool {
	switch code {
	case messages.CodeUnsigned, messages.CodeBadSignature, messages.CodeUnknownKey, messages.CodeExpired,
		messages.CodeNotYetValid, messages.CodeReplayed, messages.CodeNotTarget, messages.CodeUnknownVerb,
		messages.CodeForbidden, messages.CodeUnsupported, messages.CodeBadRequest:
		return true
	}
	return false
}
