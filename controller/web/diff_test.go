package web

import (
	"encoding/json"
	"testing"

	"github.com/foundry-fleet/foundry/messages"
)

func TestDiffIgnoresHeartbeatTimeAndSendsOnlyChangedHosts(t *testing.T) {
	a := ViewOf(messages.HostRecord{ID: "a", State: "online", LastSeen: 1})
	b := ViewOf(messages.HostRecord{ID: "b", State: "online", LastSeen: 1})
	prev := map[string]HostView{"a": a, "b": b}
	a2, b2 := a, b
	a2.LastSeen = 99
	b2.State = "disconnected"
	c := ViewOf(messages.HostRecord{ID: "c", State: "online"})
	up, rm := Diff(prev, map[string]HostView{"a": a2, "b": b2, "c": c})
	if len(rm) != 0 || len(up) != 2 {
		t.Fatalf("upserts %v removed %v, want b and c only", up, rm)
	}
	for _, h := range up {
		if h.ID == "a" {
			t.Fatal("a heartbeat alone made a delta")
		}
	}
	_, rm = Diff(prev, map[string]HostView{"a": a})
	if len(rm) != 1 || rm[0] != "b" {
		t.Fatalf("removed %v, want [b]", rm)
	}
}

func TestStackKeepsTheNewestStatusPerComponentAndHost(t *testing.T) {
	res := func(s messages.ServiceStatus) json.RawMessage { b, _ := json.Marshal(s); return b }
	old := messages.JobRecord{ID: "j1", Verb: messages.VerbServiceStatus, Updated: 1, Hosts: []messages.JobHost{
		{Host: "h1", Result: res(messages.ServiceStatus{Component: "zot", Installed: true, Version: "1", ActiveState: "active"})},
	}}
	newer := messages.JobRecord{ID: "j2", Verb: messages.VerbServiceStatus, Updated: 2, Hosts: []messages.JobHost{
		{Host: "h1", Result: res(messages.ServiceStatus{Component: "zot", Installed: true, Version: "2", ActiveState: "failed"})},
		{Host: "h2", Result: res(messages.ServiceStatus{Component: "openbao", Installed: true, Version: "2.1", ActiveState: "active", HealthStatus: 200})},
	}}
	got := StackFromJobs([]messages.JobRecord{newer, old})
	if len(got) != 2 || got[0].Name != "openbao" || got[1].Name != "zot" {
		t.Fatalf("components %+v", got)
	}
	if !got[0].Healthy || got[1].Healthy || got[1].Hosts[0].Version != "2" || got[1].Hosts[0].Job != "j2" {
		t.Fatalf("openbao %+v zot %+v: want openbao healthy, zot from j2 unhealthy", got[0], got[1])
	}
}

// A component that is both a host service and in the cluster (K3s) is
// one entry, healthy only when both parts are; a release is an entry of
// its own with no hosts.
func TestStackMergesClusterAndHostParts(t *testing.T) {
	res := func(s messages.ServiceStatus) json.RawMessage { b, _ := json.Marshal(s); return b }
	jobs := []messages.JobRecord{{ID: "j1", Verb: messages.VerbServiceStatus, Updated: 5, Hosts: []messages.JobHost{
		{Host: "node-1", Result: res(messages.ServiceStatus{Component: "k3s", Installed: true, Version: "v1.31.4+k3s1", ActiveState: "active", HealthStatus: 200})},
		{Host: "bao-1", Result: res(messages.ServiceStatus{Component: "openbao", Installed: true, ActiveState: "active", HealthStatus: 200})},
	}}}
	reported := []messages.ClusterComponentStatus{
		{Component: "k3s", Cluster: "prod", Healthy: false, CheckedAt: 7,
			Nodes: []messages.ClusterNodeStatus{{Name: "node-1", Ready: false, Problem: "not Ready"}}},
		{Component: "argocd", Cluster: "prod", Namespace: "argocd", Healthy: true, CheckedAt: 7},
	}
	got := WithCluster(StackFromJobs(jobs), reported)
	if len(got) != 3 || got[0].Name != "argocd" || got[1].Name != "k3s" || got[2].Name != "openbao" {
		t.Fatalf("components %+v", got)
	}
	a, k, o := got[0], got[1], got[2]
	if !a.Healthy || a.Cluster == nil || a.Cluster.Where != "cluster prod, namespace argocd" || len(a.Hosts) != 0 {
		t.Fatalf("argocd %+v", a)
	}
	if k.Healthy || len(k.Hosts) != 1 || !k.Hosts[0].Healthy || k.Cluster == nil || k.Cluster.Where != "cluster prod, nodes node-1" {
		t.Fatalf("k3s %+v: want its healthy service and its not-Ready node, unhealthy overall", k)
	}
	if !o.Healthy || o.Cluster != nil {
		t.Fatalf("openbao %+v: a host service only", o)
	}
}
