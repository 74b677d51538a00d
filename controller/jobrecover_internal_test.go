package controller

import (
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// TestMarkInterruptedKeepsFinishedBatchesAndOnlyTouchesOwnJobs: the
// batches that finished keep their outcomes, the next one is
// interrupted, later ones never started; another controller's job, and
// in a cluster an unowned one, are left alone.
func TestMarkInterruptedKeepsFinishedBatchesAndOnlyTouchesOwnJobs(t *testing.T) {
	running := func(owner string) messages.JobRecord {
		return messages.JobRecord{ID: "j1", State: messages.JobRunning, Controller: owner, Batches: 3, BatchesRun: 1, Hosts: []messages.JobHost{
			{Host: "a", Batch: 1, State: messages.HostOK},
			{Host: "b", Batch: 1, State: messages.HostRolledBack, Error: "rolled back"},
			{Host: "c", Batch: 2, State: messages.HostPending},
			{Host: "d", Batch: 3, State: messages.HostPending},
		}}
	}
	now := time.UnixMilli(1_700_000_000_000)
	for _, tc := range []struct {
		name      string
		rec       messages.JobRecord
		clustered bool
		want      bool
	}{
		{"own job", running("ctl-1"), false, true},
		{"own job in a cluster", running("ctl-1"), true, true},
		{"unowned job, single controller", running(""), false, true},
		{"unowned job in a cluster", running(""), true, false},
		{"another controller's job", running("ctl-2"), false, false},
		{"finished job", func() messages.JobRecord { r := running("ctl-1"); r.State = messages.JobSucceeded; return r }(), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			rec.Hosts = append([]messages.JobHost(nil), tc.rec.Hosts...)
			if got := markInterrupted(&rec, "ctl-1", tc.clustered, now); got != tc.want {
				t.Fatalf("markInterrupted = %v, want %v", got, tc.want)
			}
			if !tc.want {
				if rec.State != tc.rec.State || rec.Hosts[2].State != messages.HostPending {
					t.Fatalf("a record left alone was changed: %+v", rec)
				}
				return
			}
			want := []string{messages.HostOK, messages.HostRolledBack, messages.HostInterrupted, messages.HostNotStarted}
			for i, h := range rec.Hosts {
				if h.State != want[i] {
					t.Errorf("host %s: %s, want %s", h.Host, h.State, want[i])
				}
			}
			if rec.Hosts[1].Error != "rolled back" || rec.Hosts[2].Error == "" {
				t.Errorf("errors: %q %q", rec.Hosts[1].Error, rec.Hosts[2].Error)
			}
			if rec.State != messages.JobInterrupted || rec.Finished != now.UnixMilli() || rec.Stopped == "" {
				t.Errorf("record: state %s finished %d stopped %q", rec.State, rec.Finished, rec.Stopped)
			}
		})
	}
}
