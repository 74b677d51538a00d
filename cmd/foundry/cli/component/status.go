package component

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/messages"
)

// HostStatus is one host's view of a component, with what the component
// itself reports (OpenBAO's version and seal state, the registry serving).
type HostStatus struct {
	comp.HostResult
	Reported string `json:"reported_version,omitempty"`
	State    string `json:"component_state,omitempty"`
	Healthy  bool   `json:"healthy"`
}

// StatusResult is a component's state across its hosts. It is asked of
// the hosts every time; nothing is remembered between runs.
type StatusResult struct {
	Component string       `json:"component"`
	Desired   string       `json:"desired_version,omitempty"`
	Job       string       `json:"job"`
	Hosts     []HostStatus `json:"hosts"`
	// Raft is OpenBAO's raft membership (OpenBAO on raft only).
	Raft *RaftStatus `json:"raft,omitempty"`
	// Release is a cluster component's Helm release (it has no hosts).
	Release *helm.Status `json:"release,omitempty"`
}

// Healthy reports whether every host runs the component and it answers.
func (s StatusResult) Healthy() bool {
	if s.Release != nil {
		return s.Release.Status == "deployed" && s.Release.Ready
	}
	for _, h := range s.Hosts {
		if !h.Healthy {
			return false
		}
	}
	return len(s.Hosts) > 0 && s.Raft.Healthy()
}

// Status asks every host of the component (a read-only job).
func Status(ctx context.Context, e Env, cl *client.Client, c comp.Component, d comp.Desired) (StatusResult, error) {
	out := StatusResult{Component: c.Name, Desired: d.Version}
	q := messages.ServiceQuery{Component: c.Name}
	if c.Health != nil {
		h := c.Health(d)
		q.Health = &h
	}
	rec, err := comp.RunJob(ctx, cl, messages.VerbServiceStatus, d.Hosts, q, nil)
	out.Job = rec.ID
	if err != nil {
		return out, err
	}
	for _, r := range comp.Results(rec) {
		hs := HostStatus{HostResult: r}
		if s := r.Status; s != nil {
			if c.Report != nil {
				hs.Reported, hs.State = c.Report(*s)
			}
			ok := len(q.Health.OK) == 0 && s.HealthStatus == 200
			for _, code := range q.Health.OK {
				ok = ok || s.HealthStatus == code
			}
			hs.Healthy = s.Installed && s.ActiveState == "active" && ok
		}
		out.Hosts = append(out.Hosts, hs)
	}
	return out, nil
}

// PrintStatus renders a status table.
func PrintStatus(io *cmdutil.IOStreams, rs []StatusResult) error {
	t := cmdutil.NewTable(io, "COMPONENT", "HOST", "VERSION", "REPORTED", "UNIT", "HEALTH", "STATE", "SINCE")
	now := time.Now()
	for _, r := range rs {
		if rel := r.Release; rel != nil {
			t.Row(r.Component, "(cluster)", orDash(rel.ChartVersion), orDash(rel.AppVersion), releaseState(rel), workloadHealth(rel), notReady(rel), sinceOf(io, rel, now))
			continue
		}
		for _, h := range r.Hosts {
			if h.Status == nil {
				// Not reached or failed: the job's word for the host
				// (HostResult.State; h.State is the component's state).
				t.Row(r.Component, h.Host, "-", "-", h.HostResult.State, "-", orDash(h.Error), "-")
				continue
			}
			s := h.Status
			if !s.Installed {
				t.Row(r.Component, h.Host, "-", "-", "not installed", "-", "-", "-")
				continue
			}
			health := fmt.Sprint(s.HealthStatus)
			if s.HealthError != "" {
				health = "failing: " + s.HealthError
			}
			since := "-"
			if s.ActiveSince > 0 {
				since = cmdutil.FormatTime(io, time.UnixMilli(s.ActiveSince), now)
			}
			t.Row(r.Component, h.Host, s.Version, orDash(h.Reported), s.ActiveState+"/"+s.SubState, health, orDash(h.State), since)
		}
	}
	return t.Render()
}

// releaseState is the UNIT column of a release: Helm's status and
// revision.
func releaseState(rel *helm.Status) string {
	if rel.Revision == 0 {
		return rel.Status
	}
	return fmt.Sprintf("release %s/%d", rel.Status, rel.Revision)
}

func workloadHealth(rel *helm.Status) string {
	ready := 0
	for _, w := range rel.Workloads {
		if w.Ready {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d ready", ready, len(rel.Workloads))
}

func notReady(rel *helm.Status) string {
	var not []string
	for _, w := range rel.Workloads {
		if !w.Ready {
			not = append(not, w.Kind+"/"+w.Name)
		}
	}
	return orDash(strings.Join(not, ","))
}

func sinceOf(io *cmdutil.IOStreams, rel *helm.Status, now time.Time) string {
	if rel.Updated.IsZero() {
		return "-"
	}
	return cmdutil.FormatTime(io, rel.Updated, now)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
