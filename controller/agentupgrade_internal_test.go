package controller

import (
	"log/slog"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

func TestAgentUpgradeOutcomeReadsTheHostsOwnWord(t *testing.T) {
	now := time.Now()
	rep := messages.AgentUpgradeReply{From: "1.0.0", To: "1.1.0", Changed: true}
	online := func(version string, failed *messages.AgentUpgradeAttempt) *messages.HostRecord {
		return &messages.HostRecord{ID: "h", LastSeen: now.UnixMilli(), IntervalMs: 1000,
			Facts: messages.Facts{AgentVersion: version, LastUpgradeFailed: failed}}
	}
	for _, tt := range []struct {
		name      string
		rec       *messages.HostRecord
		state     string
		msgPrefix string
		done      bool
	}{
		{"not registered", nil, "", "", false},
		{"still the old agent", online("1.0.0", nil), "", "", false},
		{"the new agent heartbeats", online("1.1.0", nil), messages.HostOK, "", true},
		{"the new agent said goodbye", func() *messages.HostRecord { r := online("1.1.0", nil); r.Goodbye = true; return r }(), "", "", false},
		{"rolled back from this step", online("1.0.0", &messages.AgentUpgradeAttempt{ID: "step", From: "1.0.0", To: "1.1.0", Reason: "agent 1.1.0 did not stay up after 3 starts"}),
			messages.HostRolledBack, "rolled back to 1.0.0 by itself: agent 1.1.0 did not stay up", true},
		{"an older rollback is not this one", online("1.0.0", &messages.AgentUpgradeAttempt{ID: "older", From: "1.0.0", To: "1.1.0"}), "", "", false},
		{"silent for long", func() *messages.HostRecord {
			r := online("1.1.0", nil)
			r.LastSeen = now.Add(-time.Hour).UnixMilli()
			return r
		}(), "", "", false},
	} {
		reg := newRegistry(nil, slog.New(slog.DiscardHandler), nil)
		if tt.rec != nil {
			reg.hosts["h"] = tt.rec
		}
		state, msg, done := agentUpgradeOutcome(reg, "h", "step", rep, now)
		if state != tt.state || done != tt.done || len(msg) < len(tt.msgPrefix) || msg[:len(tt.msgPrefix)] != tt.msgPrefix {
			t.Errorf("%s: %q %q %v, want %q %q… %v", tt.name, state, msg, done, tt.state, tt.msgPrefix, tt.done)
		}
	}
}
