package web

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/foundry-fleet/foundry/messages"
)

// maxStatusJobs bounds how many recent status jobs the stack page reads.
const maxStatusJobs = 20

// StackHost is one host's part of a component as a status job saw it.
type StackHost struct {
	Host         string `json:"host"`
	Installed    bool   `json:"installed"`
	Version      string `json:"version,omitempty"`
	ActiveState  string `json:"active_state,omitempty"`
	HealthStatus int    `json:"health_status,omitempty"`
	HealthError  string `json:"health_error,omitempty"`
	Healthy      bool   `json:"healthy"`
	Error        string `json:"error,omitempty"`
	Job          string `json:"job"`
	Checked      int64  `json:"checked"` // unix ms, when the job ran
}

// StackComponent is a component across its hosts.
type StackComponent struct {
	Name    string      `json:"name"`
	Healthy bool        `json:"healthy"`
	Hosts   []StackHost `json:"hosts"`
}

// Stack is the stack as the most recent `stack status` and `component
// status` runs saw it: those run as service_status jobs, whose per-host
// replies the controller keeps. The view runs no job itself (it can do
// nothing), so a component is as fresh as its last status run, and the
// page shows when that was.
func Stack(ctx context.Context, j Jobs) ([]StackComponent, error) {
	list, err := j.ListJobs(ctx, messages.JobListRequest{})
	if err != nil {
		return nil, err
	}
	var recs []messages.JobRecord
	for _, jr := range list.Jobs {
		if jr.Verb != messages.VerbServiceStatus || len(recs) >= maxStatusJobs {
			continue
		}
		full, err := j.ShowJob(ctx, messages.JobShowRequest{ID: jr.ID})
		if err != nil {
			continue
		}
		recs = append(recs, full)
	}
	return StackFromJobs(recs), nil
}

// StackFromJobs keeps, per component and host, the newest status reply.
func StackFromJobs(jobs []messages.JobRecord) []StackComponent {
	type key struct{ comp, host string }
	newest := map[key]StackHost{}
	for _, jr := range jobs {
		for _, h := range jr.Hosts {
			var st messages.ServiceStatus
			if len(h.Result) == 0 || json.Unmarshal(h.Result, &st) != nil || st.Component == "" {
				continue
			}
			k := key{st.Component, h.Host}
			if cur, ok := newest[k]; ok && cur.Checked >= jr.Updated {
				continue
			}
			newest[k] = StackHost{Host: h.Host, Installed: st.Installed, Version: st.Version, ActiveState: st.ActiveState,
				HealthStatus: st.HealthStatus, HealthError: st.HealthError, Error: h.Error, Job: jr.ID, Checked: jr.Updated,
				Healthy: st.Installed && st.ActiveState == "active" && h.Error == "" &&
					st.HealthError == "" && (st.HealthStatus == 0 || st.HealthStatus < 400)}
		}
	}
	byComp := map[string]*StackComponent{}
	for k, h := range newest {
		c := byComp[k.comp]
		if c == nil {
			c = &StackComponent{Name: k.comp, Healthy: true}
			byComp[k.comp] = c
		}
		c.Hosts = append(c.Hosts, h)
		c.Healthy = c.Healthy && h.Healthy
	}
	out := make([]StackComponent, 0, len(byComp))
	for _, c := range byComp {
		sort.Slice(c.Hosts, func(i, j int) bool { return c.Hosts[i].Host < c.Hosts[j].Host })
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
