package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func TestMain(m *testing.M) {
	ct.RunAgentProcessIfAsked()
	os.Exit(m.Run())
}

// TestFrozenAgentsStayAccountedFor freezes two agent processes and checks
// that once the registry has them stale, and later offline, every
// fleet-wide answer still names them (broadcast, --where, rolling job)
// with their state and last-seen time and exits 3, and that only an
// explicit state=online leaves them out. Before, stale and offline hosts
// silently dropped out of the expected set: "3 expected, 3 responded, 0
// missing", exit 0.
func TestFrozenAgentsStayAccountedFor(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	dir := t.TempDir()
	ct.StartAgents(t, c, cl, "live", 2)
	procs := map[string]*exec.Cmd{}
	for _, id := range []string{"proc-1", "frozen-1", "frozen-2"} {
		procs[id] = ct.StartAgentProcess(t, ct.EnrollConfig(t, cl, c, id, dir), dir)
	}
	ct.WaitOnline(t, cl, 5)
	for _, id := range []string{"frozen-1", "frozen-2"} {
		if err := procs[id].Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	waitStates(t, cl, map[string]string{"frozen-1": messages.StateStale, "frozen-2": messages.StateStale})

	connect := ct.ConnectFunc(t, c)
	status := func(where string) (string, string, error) {
		ios, _, out, errOut := cmdutil.Test()
		err := statusRun(context.Background(), &StatusOptions{IO: ios, Connect: connect, Timeout: time.Second, Where: where})
		return out.String(), errOut.String(), err
	}
	checkFrozenNamed := func(label, where, state string, expected int) {
		t.Helper()
		out, errOut, err := status(where)
		var ec *cmdutil.ExitCodeError
		if !errors.As(err, &ec) || ec.Code != 3 {
			t.Fatalf("%s: exit %v, want 3\n%s%s", label, err, out, errOut)
		}
		want := fmt.Sprintf("%d expected, %d responded, 2 missing", expected, expected-2)
		if !strings.Contains(errOut, want) {
			t.Errorf("%s: summary lacks %q:\n%s", label, want, errOut)
		}
		for _, id := range []string{"frozen-1", "frozen-2"} {
			line := lineOf(out, id+"\t")
			if !strings.Contains(line, "\tmissing: ") || !strings.Contains(line, "; "+state+", last seen ") {
				t.Errorf("%s: %s not accounted as %s: %q\n%s", label, id, state, line, out)
			}
			seen := line[strings.Index(line, "last seen ")+len("last seen "):]
			if _, err := time.Parse(time.RFC3339, strings.Fields(seen)[0]); err != nil {
				t.Errorf("%s: %s last seen is not RFC 3339: %q", label, id, seen)
			}
		}
	}
	checkFrozenNamed("broadcast, stale", "", messages.StateStale, 5)
	checkFrozenNamed("per host (--where), stale", "os=debian", messages.StateStale, 5)

	// A rolling job selects them too, and records them not reached.
	j, err := cl.RunJob(context.Background(), messages.JobRunRequest{Verb: messages.VerbStatus, TimeoutMs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Hosts) != 5 {
		t.Fatalf("job selected %d hosts, want all 5: %+v", len(j.Hosts), j.Hosts)
	}
	ct.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if j, err = cl.Job(context.Background(), j.ID); err != nil {
			return err
		}
		if j.State == messages.JobRunning {
			return errors.New("job still running")
		}
		return nil
	})
	for _, h := range j.Hosts {
		want := messages.HostOK
		if strings.HasPrefix(h.Host, "frozen-") {
			want = messages.HostNotReached
		}
		if h.State != want {
			t.Errorf("job: %s is %s (%s), want %s", h.Host, h.State, h.Error, want)
		}
	}

	waitStates(t, cl, map[string]string{"frozen-1": messages.StateOffline, "frozen-2": messages.StateOffline})
	checkFrozenNamed("broadcast, offline", "", messages.StateOffline, 5)
	checkFrozenNamed("per host (--where), offline", "id!=nobody", messages.StateOffline, 5)

	// Leaving them out is the operator's explicit choice.
	out, errOut, err := status("state=online")
	if err != nil || !strings.Contains(errOut, "3 expected, 3 responded, 0 missing") || strings.Contains(out, "frozen-") {
		t.Fatalf("state=online: %v\n%s%s", err, out, errOut)
	}
}

// waitStates polls the registry until each host has its wanted state.
func waitStates(t *testing.T, cl *client.Client, want map[string]string) {
	t.Helper()
	ct.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		for _, h := range hl.Hosts {
			if w, ok := want[h.ID]; ok && h.State != w {
				return fmt.Errorf("%s is %s, want %s", h.ID, h.State, w)
			}
		}
		return nil
	})
}

// lineOf returns the first line of out that starts with prefix.
func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
