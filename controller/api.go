package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/foundry-fleet/foundry/messages"
)

// Fan-out bounds: the default and largest --timeout a status may ask for.
const (
	defaultStatusTimeout = 10 * time.Second
	maxStatusTimeout     = messages.MaxValidity
)

// startAPI registers the operator API as a NATS micro service, which gives
// $SRV discovery and per-endpoint stats for free.
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
		{"host-list", messages.APIHostList, handle(c.hostList)},
		{"host-enroll", messages.APIHostEnroll, handle(c.Enroll)},
		{"host-remove", messages.APIHostRemove, async(handle(c.RemoveHost))},
		{"fleet-status", messages.APIFleetStatus, async(handle(c.FleetStatus))},
		{"controller-info", messages.APIInfo, handle(c.info)},
	}
	for _, e := range endpoints {
		if err := svc.AddEndpoint(e.name, e.h, micro.WithEndpointSubject(e.subject)); err != nil {
			return fmt.Errorf("add endpoint %s: %w", e.subject, err)
		}
	}
	return nil
}

// handle adapts a typed function to a micro handler: bounded decode of the
// request, one envelope for result or error.
func handle[Req, Res any](fn func(context.Context, Req) (Res, error)) micro.HandlerFunc {
	return func(r micro.Request) {
		var resp messages.APIResponse[Res]
		req, err := messages.DecodeAPI[Req](orEmptyObject(r.Data()))
		if err == nil {
			resp.Result, err = fn(context.Background(), req)
		}
		resp.Error = messages.AsError(err)
		b, _ := json.Marshal(resp)
		_ = r.Respond(b)
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
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].ID < hosts[j].ID })
	return messages.HostListResult{Hosts: hosts}, nil
}

func (c *Controller) info(_ context.Context, _ struct{}) (messages.ControllerInfo, error) {
	return messages.ControllerInfo{Version: c.opts.Version, URLs: c.urls, TrustedKeys: c.TrustedKeys(),
		TLS: !c.opts.Plaintext, Hosts: len(c.reg.list(time.Now()))}, nil
}

// FleetStatus fans a signed status command out and accounts for every
// expected host. Expected is the named hosts, or every host the registry
// has online.
func (c *Controller) FleetStatus(ctx context.Context, req messages.FleetStatusRequest) (messages.FleetStatusResult, error) {
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultStatusTimeout
	}
	if timeout > maxStatusTimeout {
		return messages.FleetStatusResult{}, &messages.Error{Code: messages.CodeBadRequest,
			Message: fmt.Sprintf("timeout %s is longer than the maximum %s", timeout, maxStatusTimeout)}
	}
	now := time.Now()
	hosts, targets := req.Hosts, req.Hosts
	if len(hosts) == 0 {
		for _, h := range c.reg.list(now) {
			if h.State == messages.StateOnline {
				hosts = append(hosts, h.ID)
			}
		}
		targets = []string{messages.TargetAll}
	}
	for _, h := range hosts {
		if err := messages.ValidHostID(h); err != nil {
			return messages.FleetStatusResult{}, err
		}
	}
	env, err := messages.NewEnvelope(now, timeout, "controller", messages.VerbStatus, targets, messages.StatusRequest{})
	if err != nil {
		return messages.FleetStatusResult{}, err
	}
	c.signer.Sign(env)
	data, _ := json.Marshal(env)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fr, err := fanout(ctx, c.nc, data, hosts)
	if err != nil {
		return messages.FleetStatusResult{}, err
	}
	return c.statusResult(env.ID, hosts, fr), nil
}

func (c *Controller) statusResult(id string, hosts []string, fr fanoutResult) messages.FleetStatusResult {
	res := messages.FleetStatusResult{RequestID: id, Expected: len(hosts), TimedOut: fr.timedOut,
		ElapsedMs: float64(fr.elapsed.Microseconds()) / 1000,
		Responded: make([]messages.HostStatus, 0, len(fr.replies)), Missing: []messages.MissingHost{}}
	for _, h := range hosts {
		if r, ok := fr.replies[h]; ok {
			hs := messages.HostStatus{Host: h, LatencyMs: float64(r.latency.Microseconds()) / 1000, Error: r.reply.Error}
			if r.reply.Error == nil {
				if st, err := messages.DecodeStatusReply(r.reply.Payload); err == nil {
					hs.Status = &st
				} else {
					hs.Error = messages.AsError(err)
				}
			}
			res.Responded = append(res.Responded, hs)
			continue
		}
		reason := fr.missing[h]
		if _, known := c.reg.get(h); !known {
			reason = messages.ReasonUnknownHost + "; " + reason
		}
		res.Missing = append(res.Missing, messages.MissingHost{Host: h, Reason: reason})
	}
	return res
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
