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
