package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/foundry-fleet/foundry/controller/target"
	"github.com/foundry-fleet/foundry/messages"
)

// Fan-out bounds: the default and largest --timeout a status may ask for.
const (
	defaultStatusTimeout = 10 * time.Second
	maxStatusTimeout     = messages.MaxValidity
)

// startAPI registers the operator API as a NATS micro service, which gives
// $SRV discovery and per-endpoint stats for free. Every endpoint
// authenticates the operator from the request's signature; endpoints not
// in messages.ReadAPISubjects also require the admin role, except those in
// messages.VerbCheckedAPISubjects, whose handlers check the verb.
func (c *Controller) startAPI() error {
	svc, err := micro.AddService(c.nc, micro.Config{
		Name: "foundry-controller", Version: semverOr(c.opts.Version), QueueGroup: "foundry-controller",
	})
	if err != nil {
		return fmt.Errorf("start API: %w", err)
	}
	c.svc = svc
	endpoints := []struct {
		name, subject string
		h             micro.HandlerFunc
	}{
		{"host-list", messages.APIHostList, handle(c, messages.APIHostList, c.hostList)},
		{"host-enroll", messages.APIHostEnroll, handle(c, messages.APIHostEnroll, c.Enroll)},
		{"host-remove", messages.APIHostRemove, async(handle(c, messages.APIHostRemove, c.RemoveHost))},
		{"host-rekey", messages.APIHostRekey, async(handle(c, messages.APIHostRekey, c.RekeyHost))},
		{"fleet-status", messages.APIFleetStatus, async(handle(c, messages.APIFleetStatus, c.FleetStatus))},
		{"controller-info", messages.APIInfo, handle(c, messages.APIInfo, c.info)},
		{"operator-create", messages.APIOperatorCreate, handle(c, messages.APIOperatorCreate, c.CreateOperator)},
		{"operator-list", messages.APIOperatorList, handle(c, messages.APIOperatorList, c.ListOperators)},
		{"operator-revoke", messages.APIOperatorRevoke, handle(c, messages.APIOperatorRevoke, c.RevokeOperator)},
		{"rotate-signing-key", messages.APIRotateSigningKey, async(handle(c, messages.APIRotateSigningKey, c.RotateSigningKey))},
		{"rotate-certs", messages.APIRotateCerts, handle(c, messages.APIRotateCerts, c.RotateCerts)},
		{"cert-sign", messages.APICertSign, handle(c, messages.APICertSign, c.SignCert)},
		{"job-run", messages.APIJobRun, handle(c, messages.APIJobRun, c.RunJob)},
		{"job-list", messages.APIJobList, handle(c, messages.APIJobList, c.ListJobs)},
		{"job-show", messages.APIJobShow, handle(c, messages.APIJobShow, c.ShowJob)},
		{"artifact-import", messages.APIArtifactImport, async(handle(c, messages.APIArtifactImport, c.ImportArtifact))},
		{"artifact-list", messages.APIArtifactList, handle(c, messages.APIArtifactList, c.ListArtifacts)},
		{"web-login", messages.APIWebLogin, handle(c, messages.APIWebLogin, c.webLogin)},
		{"artifact-upload", messages.APIArtifactUpload, handleWith(c, messages.APIArtifactUpload, messages.DecodeArtifactUploadRequest, c.UploadArtifact)},
		{"artifact-chunks", messages.APIArtifactChunks, async(handle(c, messages.APIArtifactChunks, c.ArtifactChunks))},
		{"stack-report", messages.APIStackReport, handleWith(c, messages.APIStackReport, messages.DecodeStackReport, c.ReportStack)},
		{"stack-list", messages.APIStackList, handle(c, messages.APIStackList, c.ListStack)},
		{"stream-read", messages.APIStreamRead, async(handle(c, messages.APIStreamRead, c.StreamRead))},
	}
	for _, e := range endpoints {
		if err := svc.AddEndpoint(e.name, e.h, micro.WithEndpointSubject(e.subject)); err != nil {
			return fmt.Errorf("add endpoint %s: %w", e.subject, err)
		}
	}
	// A client that connects right after Start must find every endpoint:
	// the server knows a subscription only once this connection flushed it.
	if err := c.nc.Flush(); err != nil {
		return fmt.Errorf("start API: %w", err)
	}
	return nil
}

// handle adapts a typed function to a micro handler: bounded decode of the
// request, authentication and authorization of the operator, the call
// with the operator in its context, an audit record for every write, and
// one envelope for result or error.
func handle[Req, Res any](c *Controller, subject string, fn func(context.Context, Req) (Res, error)) micro.HandlerFunc {
	return handleWith(c, subject, func(b []byte) (Req, error) { return messages.DecodeAPI[Req](orEmptyObject(b)) }, fn)
}

// handleWith is handle with a decoder of its own, for a request that is
// not plain JSON (an upload step's raw chunk).
func handleWith[Req, Res any](c *Controller, subject string, decode func([]byte) (Req, error), fn func(context.Context, Req) (Res, error)) micro.HandlerFunc {
	write := !slices.Contains(messages.ReadAPISubjects, subject)
	action := strings.TrimPrefix(subject, messages.APIPrefix+".")
	return func(r micro.Request) {
		if !c.replyToSender(r) {
			return
		}
		var resp messages.APIResponse[Res]
		req, err := decode(r.Data())
		var call *apiCall
		if err == nil {
			call, err = c.authorize(r.Subject(), r.Data(), r.Headers().Get, write, action)
		}
		if err == nil {
			resp.Result, err = fn(withCall(context.Background(), call), req)
			call.mu.Lock()
			sent, unchanged := call.commandSent, call.unchanged
			call.mu.Unlock()
			if write && !sent && !(unchanged && err == nil) {
				c.auditCall(call, err)
			}
		}
		resp.Error = messages.AsError(err)
		_ = r.Respond(fitAnswer(encodeAnswer(resp), messages.MaxAPIBytes))
	}
}

// replyToSender reports whether r's reply subject is under an operator's
// inbox (OperatorInbox), and under the claimed sender's own when the
// request names one. NATS checks a reply subject against no permission,
// so without this anyone allowed to call the API could have the
// controller's answer delivered to any subject (a host's command
// subject, the broadcast, an agent's inbox). Other requests are dropped
// unanswered and unexecuted. Only operators subscribe under "_INBOX_"
// followed by a user key, each to its own, so a forged claim gets at
// most an error on the claimed operator's own inbox.
func (c *Controller) replyToSender(r micro.Request) bool {
	rest, _ := strings.CutPrefix(r.Reply(), "_INBOX_")
	key, _, _ := strings.Cut(rest, ".")
	claimed := r.Headers().Get(messages.HeaderOperator)
	if InOperatorInbox(key, r.Reply()) && (claimed == "" || claimed == key) {
		return true
	}
	if n := c.apiDropped.Add(1); n%1000 == 1 {
		c.logger.Warn("API request dropped: its reply subject is not the sender's inbox", "subject", r.Subject(), "reply", clipLog(r.Reply()), "dropped", n)
	}
	return false
}

// fitAnswer replaces an answer over limit bytes with an error that says
// so: NATS would drop the message and the caller would only see a timeout.
func fitAnswer(b []byte, limit int) []byte {
	if len(b) <= limit {
		return b
	}
	out, _ := json.Marshal(messages.APIResponse[struct{}]{Error: &messages.Error{Code: messages.CodeBadRequest,
		Message: fmt.Sprintf("the answer is %.1f MiB, over the %.0f MiB limit of one message; narrow it with --host or --where, or ask for less (fleet status --summary)",
			float64(len(b))/(1<<20), float64(limit)/(1<<20))}})
	return out
}

// authorize establishes who sent an API request from its signature (never
// from its body), refuses unknown, revoked and replayed senders, and
// refuses a write to a non-admin. Every refusal is audited.
func (c *Controller) authorize(subject string, body []byte, header func(string) string, write bool, action string) (*apiCall, error) {
	now := time.Now()
	a, err := messages.ParseAPIAuth(header)
	if err == nil {
		err = messages.VerifyAPIAuth(a, subject, body, now)
	}
	var id Identity
	if err == nil {
		var ok bool
		id, ok = c.auth.get(a.Operator)
		switch {
		case !ok || id.Kind != KindOperator:
			err = &messages.Error{Code: messages.CodeUnauthenticated, Message: "API request is signed by a key that is not an operator of this controller; check --creds"}
		case id.Revoked != 0:
			err = &messages.Error{Code: messages.CodeUnauthenticated, Message: fmt.Sprintf("operator %s was revoked; ask an admin for new credentials", id.Name)}
		}
	}
	if err == nil {
		err = c.replay.check(a.Operator+"/"+a.RequestID, a.Time, now)
	}
	call := &apiCall{action: action, apiRequestID: a.RequestID,
		op: Operator{Name: id.Name, Role: id.Role, PublicKey: id.PublicKey}}
	if err == nil && write && id.Role != RoleAdmin && !slices.Contains(messages.VerbCheckedAPISubjects, subject) {
		err = &messages.Error{Code: messages.CodeForbidden, Message: fmt.Sprintf("operator %s is %s and may not call %s; ask an admin", id.Name, id.Role, action)}
	}
	if err != nil {
		rec := messages.AuditRecord{Source: messages.AuditSourceAPI, RequestID: a.RequestID, APIRequestID: a.RequestID,
			Operator: messages.UnknownOperator, OperatorKey: a.Operator, Action: action,
			Outcome: messages.OutcomeRefused, Code: messages.CodeOf(err), Message: err.Error()}
		if id.Name != "" {
			rec.Operator, rec.Role = id.Name, id.Role
		}
		c.audit.note("api:"+a.Operator, rec)
		c.metrics.APIRefused(rec.Code)
		c.logger.Warn("API request refused", "action", action, "operator", rec.Operator, "code", rec.Code)
		return nil, err
	}
	return call, nil
}

// auditCall records the outcome of an authorized write that sent no
// command (commands are audited by runCommand).
func (c *Controller) auditCall(call *apiCall, err error) {
	rec := messages.AuditRecord{Source: messages.AuditSourceAPI, RequestID: call.apiRequestID, APIRequestID: call.apiRequestID,
		Operator: call.op.Name, OperatorKey: call.op.PublicKey, Role: call.op.Role, Action: call.action,
		Outcome: messages.OutcomeSucceeded}
	if err != nil {
		rec.Outcome, rec.Code, rec.Message = messages.OutcomeFailed, messages.CodeOf(err), clip(err.Error(), 512)
	}
	if aerr := c.audit.record(context.Background(), rec); aerr != nil {
		c.logger.Warn("API call not audited", "action", call.action, "operator", call.op.Name, "err", aerr)
	}
}

// async runs slow handlers on their own goroutine so one long fan-out does
// not hold up the next request on the same endpoint.
func async(h micro.HandlerFunc) micro.HandlerFunc {
	return func(r micro.Request) { go h(r) }
}

func orEmptyObject(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// hostList joins the registry (what heartbeats said) with the identities
// (what was enrolled), so a host that was added but never came up is
// visible as "enrolled" instead of missing from the list.
func (c *Controller) hostList(_ context.Context, _ messages.HostListRequest) (messages.HostListResult, error) {
	hosts := c.reg.list(time.Now())
	byID := make(map[string]int, len(hosts))
	for i, h := range hosts {
		byID[h.ID] = i
		// What the heartbeat said is shown as reported; Role and Labels
		// are the operator's assignment, filled below.
		hosts[i].ReportedRole, hosts[i].ReportedLabels = h.Role, h.Labels
		hosts[i].Role, hosts[i].Labels = "", nil
	}
	for _, id := range c.agents() {
		i, ok := byID[id.Name]
		if !ok {
			hosts = append(hosts, messages.HostRecord{ID: id.Name, State: messages.StateEnrolled, FirstSeen: id.Created})
			i = len(hosts) - 1
			byID[id.Name] = i
		}
		if id.Address != "" {
			hosts[i].Address, hosts[i].SSHUser, hosts[i].SSHPort = id.Address, id.SSHUser, id.SSHPort
		}
		hosts[i].Role, hosts[i].Labels = id.HostRole, id.HostLabels
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].ID < hosts[j].ID })
	return messages.HostListResult{Hosts: hosts}, nil
}

func (c *Controller) info(_ context.Context, _ struct{}) (messages.ControllerInfo, error) {
	return messages.ControllerInfo{Version: c.opts.Version, URLs: c.urls, TrustedKeys: c.TrustedKeys(),
		RetiredKeys: c.keys.retiredKeys(), TLS: !c.opts.Plaintext, Hosts: c.reg.size()}, nil
}

// FleetStatus fans a signed status command out and accounts for every
// expected host. Expected is the named hosts, or every host the registry
// knows, whatever its state: a host that is away is reported missing with
// its state, never left out (unless --where leaves it out, e.g.
// state=online).
func (c *Controller) FleetStatus(ctx context.Context, req messages.FleetStatusRequest) (messages.FleetStatusResult, error) {
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultStatusTimeout
	}
	if timeout > maxStatusTimeout {
		return messages.FleetStatusResult{}, &messages.Error{Code: messages.CodeBadRequest,
			Message: fmt.Sprintf("timeout %s is longer than the maximum %s", timeout, maxStatusTimeout)}
	}
	hosts, targets, err := c.selectHosts(req.Hosts, req.Where, time.Now())
	if err != nil {
		return messages.FleetStatusResult{}, err
	}
	// The whole fleet gets one broadcast message; a selection is sent per
	// host, so hosts outside it never see the command.
	all := len(req.Hosts) == 0 && req.Where == ""
	env, fr, err := c.runCommand(ctx, command{verb: messages.VerbStatus, targets: targets, hosts: hosts,
		payload: messages.StatusRequest{Brief: req.Summary}, ttl: timeout, broadcast: all})
	if err != nil {
		return messages.FleetStatusResult{}, err
	}
	return c.statusResult(env.ID, hosts, fr, req.Summary), nil
}

// selectHosts is the expected set of a fan-out: the named hosts, or every
// host in the registry (online or not: a fleet-wide answer accounts for
// every registered host), narrowed by a --where expression evaluated
// against the registry, state included. It returns the envelope targets
// too: the named hosts, or "*" when the selection came from the registry
// (a long list would not fit a command).
func (c *Controller) selectHosts(named []string, where string, now time.Time) (hosts, targets []string, err error) {
	var expr target.Expr
	if where != "" {
		if expr, err = target.Parse(where); err != nil {
			return nil, nil, &messages.Error{Code: messages.CodeBadRequest, Message: "--where: " + err.Error()}
		}
	}
	for _, h := range named {
		if err := messages.ValidHostID(h); err != nil {
			return nil, nil, err
		}
	}
	if len(named) > 0 && expr == nil {
		return named, named, nil
	}
	want := map[string]bool{}
	for _, h := range named {
		want[h] = true
	}
	c.reg.scan(now, func(h *messages.HostRecord, state string) {
		if len(named) > 0 && !want[h.ID] {
			return
		}
		if expr != nil {
			// Role and labels as the operator assigned them: the
			// heartbeat's are the agent's word (see Identity.HostRole).
			role, labels := c.auth.assignment(h.ID)
			if !expr.Match(target.Host{ID: h.ID, State: state, Role: role, Labels: labels, Facts: h.Facts}) {
				return
			}
		}
		hosts = append(hosts, h.ID)
	})
	slices.Sort(hosts)
	if len(named) > 0 {
		return hosts, hosts, nil
	}
	return hosts, []string{messages.TargetAll}, nil
}

// statusResult accounts for every expected host. A brief (summary) reply
// carries no status to decode.
func (c *Controller) statusResult(id string, hosts []string, fr fanoutResult, brief bool) messages.FleetStatusResult {
	now := time.Now()
	res := messages.FleetStatusResult{RequestID: id, Expected: len(hosts), TimedOut: fr.timedOut,
		ElapsedMs: float64(fr.elapsed.Microseconds()) / 1000,
		Responded: make([]messages.HostStatus, 0, len(fr.replies)), Missing: []messages.MissingHost{}}
	var statuses []decodedStatus
	if !brief {
		statuses = decodeStatuses(hosts, fr.replies)
	}
	for i, h := range hosts {
		if r, ok := fr.replies[h]; ok {
			hs := messages.HostStatus{Host: h, LatencyMs: float64(r.latency.Microseconds()) / 1000, Error: r.reply.Error}
			if r.reply.Error == nil && !brief {
				hs.Status, hs.Error = statuses[i].status, statuses[i].err
			}
			res.Responded = append(res.Responded, hs)
			continue
		}
		res.Missing = append(res.Missing, c.missingHost(h, fr.missing[h], now))
	}
	return res
}

// decodedStatus is one host's status reply, or why it does not decode.
type decodedStatus struct {
	status *messages.StatusReply
	err    *messages.Error
}

// decodeStatuses decodes the status of every host that answered without
// an error, in hosts' order, on every core: at a thousand hosts and more
// it is most of the time between the last reply and the answer, and the
// cores are free then.
func decodeStatuses(hosts []string, replies map[string]hostReply) []decodedStatus {
	out := make([]decodedStatus, len(hosts))
	workers := min(runtime.GOMAXPROCS(0), (len(hosts)+255)/256)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(hosts); i += workers {
				r, ok := replies[hosts[i]]
				if !ok || r.reply.Error != nil {
					continue
				}
				if st, err := messages.DecodeStatusReply(r.reply.Payload); err == nil {
					out[i].status = &st
				} else {
					out[i].err = messages.AsError(err)
				}
			}
		})
	}
	wg.Wait()
	return out
}

// missingHost is a host that did not answer, with why and what the
// registry knows of it.
func (c *Controller) missingHost(h, reason string, now time.Time) messages.MissingHost {
	rec, known := c.reg.get(h)
	if !known {
		return messages.MissingHost{Host: h, Reason: messages.ReasonUnknownHost + "; " + reason}
	}
	return messages.MissingHost{Host: h, Reason: reason, State: HostState(rec, now),
		LastSeen: time.UnixMilli(rec.LastSeen).UTC().Format(time.RFC3339)}
}

// semverOr returns v when it is a semantic version (micro insists), else
// 0.0.0-dev.
func semverOr(v string) string {
	v = strings.TrimPrefix(v, "v")
	if semverRe.MatchString(v) {
		return v
	}
	return "0.0.0-dev"
}

var semverRe = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
