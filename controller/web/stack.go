package web

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

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

// StackCluster is a component's part in the cluster as the last status
// run that read the cluster reported it: a Helm release, or K3s's nodes.
// Checked is when the CLI read it and Operator who reported it.
type StackCluster struct {
	messages.ClusterComponentStatus
	// Where says where it runs, e.g. "cluster prod, namespace monitoring".
	Where string `json:"where"`
}

// StackComponent is a component across its hosts and, for a cluster
// component, its part in the cluster.
type StackComponent struct {
	Name    string        `json:"name"`
	Healthy bool          `json:"healthy"`
	Hosts   []StackHost   `json:"hosts"`
	Cluster *StackCluster `json:"cluster,omitempty"`
}

// Stack is the stack as the most recent status runs saw it. Host services
// run as service_status jobs, whose per-host replies the controller
// keeps; cluster components (Helm releases, K3s's nodes) are read by the
// CLI, which holds the kubeconfig, and reported to the controller after
// its status run. The view runs nothing itself (it can do nothing), so a
// component is as fresh as its last status run, and the page shows when
// that was and who ran it.
func Stack(ctx context.Context, j Jobs, cs ClusterStack) ([]StackComponent, error) {
	list, err := j.ListJobs(ctx, messages.JobListRequest{})
	if err != nil {
		return nil, err
	}
	reported, err := cs.ListStack(ctx, messages.StackListRequest{})
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
	return WithCluster(StackFromJobs(recs), reported.Components), nil
}

// WithCluster adds the reported cluster components to the host services:
// a component that is both (K3s: a service on each node, and the nodes
// in the API) is one entry, healthy only when both parts are.
func WithCluster(comps []StackComponent, reported []messages.ClusterComponentStatus) []StackComponent {
	byName := map[string]int{}
	for i, c := range comps {
		byName[c.Name] = i
	}
	for _, r := range reported {
		sc := &StackCluster{ClusterComponentStatus: r, Where: whereInCluster(r)}
		i, ok := byName[r.Component]
		if !ok {
			comps = append(comps, StackComponent{Name: r.Component, Healthy: true, Hosts: []StackHost{}})
			i = len(comps) - 1
			byName[r.Component] = i
		}
		comps[i].Cluster = sc
		comps[i].Healthy = comps[i].Healthy && r.Healthy
	}
	sort.Slice(comps, func(i, j int) bool { return comps[i].Name < comps[j].Name })
	return comps
}

// whereInCluster names the cluster, and the namespace of a release or the
// nodes of K3s.
func whereInCluster(r messages.ClusterComponentStatus) string {
	where := "cluster"
	if r.Cluster != "" {
		where += " " + r.Cluster
	}
	if r.Namespace != "" {
		return where + ", namespace " + r.Namespace
	}
	if len(r.Nodes) > 0 {
		names := make([]string, 0, len(r.Nodes))
		for _, n := range r.Nodes {
			names = append(names, n.Name)
		}
		return where + ", nodes " + strings.Join(names, ", ")
	}
	return where
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
