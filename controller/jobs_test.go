package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func waitJob(t *testing.T, cl *client.Client, id string) messages.JobRecord {
	t.Helper()
	var j messages.JobRecord
	ct.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		var err error
		if j, err = cl.Job(context.Background(), id); err != nil {
			return err
		}
		if j.State == messages.JobRunning {
			return fmt.Errorf("job %s still running (%d/%d batches)", id, j.BatchesRun, j.Batches)
		}
		return nil
	})
	return j
}

func states(j messages.JobRecord) map[string]string {
	out := map[string]string{}
	for _, h := range j.Hosts {
		out[h.Host] = h.State
	}
	return out
}

// TestRollingJobAccountsForEveryHost: offline hosts are not reached (never
// ok), the failure budget stops the rollout and names what never started,
// and every step leaves events and a stored record.
func TestRollingJobAccountsForEveryHost(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ctx := context.Background()
	agents := ct.StartAgents(t, c, cl, "r", 10)
	ct.WaitOnline(t, cl, 10)
	before := c.Server().NumClients()
	agents[1].Kill() // r-2
	agents[7].Kill() // r-8
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if c.Server().NumClients() != before-2 {
			return fmt.Errorf("server still sees the killed agents")
		}
		return nil
	})

	// Within budget: every batch runs, two hosts not reached.
	j, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbStatus, Batch: "3", MaxFailures: "2", TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if j.Batches != 4 || len(j.Hosts) != 10 {
		t.Fatalf("plan: %d batches for %d hosts", j.Batches, len(j.Hosts))
	}
	j = waitJob(t, cl, j.ID)
	st := states(j)
	if j.State != messages.JobFailed || j.Count(messages.HostOK) != 8 || st["r-2"] != messages.HostNotReached || st["r-8"] != messages.HostNotReached {
		t.Fatalf("job: state %s, hosts %v", j.State, st)
	}
	for _, h := range j.Hosts {
		if h.StepID == "" {
			t.Fatalf("%s has no step id", h.Host)
		}
	}

	// Default budget (no failure allowed): the first batch with r-2 stops it.
	j2, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbStatus, Batch: "30%", BatchWaitMs: 10, TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	j2 = waitJob(t, cl, j2.ID)
	if j2.State != messages.JobStopped || j2.BatchesRun != 1 || j2.Count(messages.HostOK) != 2 ||
		j2.Count(messages.HostNotReached) != 1 || j2.Count(messages.HostNotStarted) != 7 || !strings.Contains(j2.Stopped, "more than the 0 allowed") {
		t.Fatalf("stopped job: state %s stopped %q hosts %v", j2.State, j2.Stopped, states(j2))
	}

	jobs, err := cl.Jobs(ctx)
	if err != nil || len(jobs.Jobs) != 2 || jobs.Jobs[0].ID != j2.ID {
		t.Fatalf("job list: %+v %v", jobs, err)
	}
	// Per-host progress events carry the job id.
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		n := 0
		err := cl.Events(ctx, client.EventQuery{Host: "r-8", Since: time.Hour}, func(ev messages.Event) error {
			if ev.RequestID == j.ID && ev.Type == messages.EventJobStepFailed {
				n++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%d job_step_failed events for r-8", n)
		}
		return nil
	})
}

func TestJobBadInputIsRefused(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ct.StartAgents(t, c, cl, "b", 2)
	ct.WaitOnline(t, cl, 2)
	ctx := context.Background()
	for _, tc := range []struct {
		req  messages.JobRunRequest
		want string
	}{
		{messages.JobRunRequest{Verb: messages.VerbStatus, Batch: "0"}, "--batch"},
		{messages.JobRunRequest{Verb: messages.VerbStatus, Batch: "-3"}, "--batch"},
		{messages.JobRunRequest{Verb: messages.VerbStatus, Batch: "150%"}, "--batch"},
		{messages.JobRunRequest{Verb: messages.VerbStatus, MaxFailures: "x"}, "--max-failures"},
		{messages.JobRunRequest{Verb: messages.VerbStatus, Where: "role=nobody"}, "selects no host"},
		{messages.JobRunRequest{Verb: messages.VerbUninstall}, "cannot run as a job"},
		{messages.JobRunRequest{Verb: messages.VerbStatus, Where: "os=("}, "position"},
	} {
		if _, err := cl.RunJob(ctx, tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.req, err, tc.want)
		}
	}
	if _, err := cl.Job(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "foundry job list") {
		t.Errorf("unknown job: %v", err)
	}
}

// TestRestartedControllerMarksItsRunningJobInterrupted: a controller
// that stops while its job waits between batches leaves a record that
// says running; the controller started again on the same data directory
// marks it interrupted (the finished batch keeps its outcomes), and
// leaves alone a running job that another controller owns.
func TestRestartedControllerMarksItsRunningJobInterrupted(t *testing.T) {
	dir := t.TempDir()
	c := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir })
	cl := ct.Client(t, c)
	ctx := context.Background()
	ct.StartAgents(t, c, cl, "i", 2)
	ct.WaitOnline(t, cl, 2)
	j, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbStatus, Batch: "1", BatchWaitMs: 10 * 60_000, TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	ct.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		r, err := cl.Job(ctx, j.ID)
		if err != nil {
			return err
		}
		if r.BatchesRun != 1 {
			return fmt.Errorf("%d batches run", r.BatchesRun)
		}
		j = r
		return nil
	})
	if j.State != messages.JobRunning || j.Controller == "" {
		t.Fatalf("job before the stop: state %s controller %q", j.State, j.Controller)
	}
	// Another member's running job, as a cluster would share it.
	other := messages.JobRecord{ID: "other-member-job", Verb: messages.VerbStatus, State: messages.JobRunning, Controller: "someone-else",
		Batches: 1, Hosts: []messages.JobHost{{Host: "i-1", Batch: 1, State: messages.HostPending}}}
	js, err := jetstream.New(c.InternalConn())
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, controller.JobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(other)
	if _, err := kv.Put(ctx, other.ID, b); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c.Shutdown()

	c2 := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir })
	cl2 := ct.Client(t, c2)
	got, err := cl2.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	st := states(got)
	if got.State != messages.JobInterrupted || got.Finished == 0 || !strings.Contains(got.Stopped, "during batch 2 of 2") {
		t.Fatalf("job after the restart: state %s finished %d stopped %q", got.State, got.Finished, got.Stopped)
	}
	first, second := got.Hosts[0], got.Hosts[1]
	if first.State != messages.HostOK || second.State != messages.HostInterrupted || !strings.Contains(second.Error, "host list") {
		t.Fatalf("hosts after the restart: %v (%q)", st, second.Error)
	}
	if o, err := cl2.Job(ctx, other.ID); err != nil || o.State != messages.JobRunning {
		t.Fatalf("another controller's job: %s %v", o.State, err)
	}
}

// TestRestartedControllerShowsHostsDisconnectedUntilTheyReconnect: the
// registry a controller loads after a stop says online for hosts that
// heartbeated moments ago, but the new server holds none of their
// connections; until an agent connects again, its host is disconnected
// (and commands to it say not connected, which host list now agrees with).
func TestRestartedControllerShowsHostsDisconnectedUntilTheyReconnect(t *testing.T) {
	dir := t.TempDir()
	slow := func(o *controller.Options) { o.DataDir = dir; o.HeartbeatBase = 5 * time.Second }
	c := ct.StartController(t, slow)
	cl := ct.Client(t, c)
	ct.StartAgents(t, c, cl, "d", 2)
	ct.WaitOnline(t, cl, 2)
	cl.Close()
	c.Shutdown()

	// Another port: the agents keep knocking at the old one.
	c2 := ct.StartController(t, slow)
	cl2 := ct.Client(t, c2)
	hl, err := cl2.HostList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(hl.Hosts) != 2 {
		t.Fatalf("registry after the restart: %+v", hl.Hosts)
	}
	for _, h := range hl.Hosts {
		if h.State != messages.StateDisconnected {
			t.Errorf("%s is %s after the restart, with no connection to this controller", h.ID, h.State)
		}
	}
}
