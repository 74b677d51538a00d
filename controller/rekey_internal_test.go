package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

func TestRekeyUnsafeAcceptsTheAgentAloneOnly(t *testing.T) {
	now := time.UnixMilli(1_000_000_000)
	id := Identity{Name: "web-1", Address: "10.77.0.5"}
	agentConn := keyConn{name: "foundry-agent:web-1", ip: "10.77.0.5"}
	fetch := keyConn{name: messages.AgentFetchConnName("web-1"), ip: "10.77.0.5"}
	for _, tc := range []struct {
		name  string
		id    Identity
		k     keyCensus
		wants string // "" for safe
	}{
		{"agent alone", id, keyCensus{conns: []keyConn{agentConn}}, ""},
		{"agent and its fetch", id, keyCensus{conns: []keyConn{agentConn, fetch}}, ""},
		{"no address known", Identity{Name: "web-1"}, keyCensus{conns: []keyConn{{name: "foundry-agent:web-1", ip: "192.0.2.1"}}}, ""},
		{"not connected", id, keyCensus{}, "not connected"},
		{"two agents", id, keyCensus{conns: []keyConn{agentConn, agentConn}}, "2 connections present themselves"},
		{"a stranger", id, keyCensus{conns: []keyConn{agentConn, {name: "x", ip: "10.77.0.5"}}}, "other connection"},
		{"from elsewhere", id, keyCensus{conns: []keyConn{{name: "foundry-agent:web-1", ip: "10.77.0.9"}}}, "comes from 10.77.0.9"},
		{"slots were full lately", id, keyCensus{conns: []keyConn{agentConn}, denied: now.Add(-time.Minute).UnixMilli()}, "refused for the connection limit"},
		{"slots were full long ago", id, keyCensus{conns: []keyConn{agentConn}, denied: now.Add(-time.Hour).UnixMilli()}, ""},
	} {
		got := rekeyUnsafe(tc.id, tc.k, now)
		if (tc.wants == "") != (got == "") || !strings.Contains(got, tc.wants) {
			t.Errorf("%s: rekeyUnsafe = %q, want %q", tc.name, got, tc.wants)
		}
	}
}
