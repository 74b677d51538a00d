package job

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func TestListShowAndWatch(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	agents := ct.StartAgents(t, c, cl, "w", 3)
	ct.WaitOnline(t, cl, 3)
	j, err := cl.RunJob(context.Background(), messages.JobRunRequest{Verb: messages.VerbStatus, Batch: "1", MaxFailures: "1"})
	if err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := cmdutil.Test()
	if err := Watch(context.Background(), ios, cl, j.ID, 0, false); err != nil {
		t.Fatalf("watch: %v\n%s", err, errOut.String())
	}
	if n := strings.Count(out.String(), "\tok\t"); n != 3 || !strings.Contains(errOut.String(), "succeeded: 3 ok, 0 failed") {
		t.Fatalf("watch output:\n%s\n%s", out.String(), errOut.String())
	}

	agents[2].Kill()
	j2, err := cl.RunJob(context.Background(), messages.JobRunRequest{Verb: messages.VerbStatus, Hosts: []string{"w-3"}})
	if err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ = cmdutil.Test()
	err = Watch(context.Background(), ios, cl, j2.ID, 0, false)
	var ec *cmdutil.ExitCodeError
	if !errors.As(err, &ec) || ec.Code != 3 || !strings.Contains(out.String(), "w-3\t1\tnot_reached") {
		t.Fatalf("job with an offline host: %v\n%s", err, out.String())
	}

	ios, _, out, _ = cmdutil.Test()
	if err := listRun(context.Background(), &Options{IO: ios, Connect: ct.ConnectFunc(t, c)}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], j2.ID+"\tstatus\tstopped") || !strings.HasPrefix(lines[1], j.ID+"\tstatus\tsucceeded") {
		t.Fatalf("list:\n%s", out.String())
	}
	ios, _, out, _ = cmdutil.Test()
	if err := showRun(context.Background(), &Options{IO: ios, Connect: ct.ConnectFunc(t, c), ID: j.ID, JSON: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"state": "succeeded"`) {
		t.Fatalf("show --json:\n%s", out.String())
	}
}

func TestSummaryOfAnInterruptedJobSaysWhereToLook(t *testing.T) {
	var b strings.Builder
	summary(&b, messages.JobRecord{ID: "j1", State: messages.JobInterrupted, Batch: "1", MaxFailures: "0",
		Stopped: "controller c1 stopped during batch 2 of 3", Hosts: []messages.JobHost{
			{Host: "a", State: messages.HostOK}, {Host: "b", State: messages.HostInterrupted}, {Host: "c", State: messages.HostNotStarted}}})
	want := "job j1 interrupted: 1 ok, 0 failed, 0 not reached, 1 not started (batch 1, max failures 0)\n" +
		"1 interrupted: their step was in flight when the controller stopped; foundry host list shows where they ended\n" +
		"stopped: controller c1 stopped during batch 2 of 3\n"
	if b.String() != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}
