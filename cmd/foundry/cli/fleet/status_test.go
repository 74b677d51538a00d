package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/shlex"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func TestStatusFlags(t *testing.T) {
	cases := []struct {
		args    string
		wantErr string
		hosts   []string
		timeout time.Duration
	}{
		{"", "", nil, 30 * time.Second},
		{"--host web-1 --host web-2 --timeout 5s", "", []string{"web-1", "web-2"}, 5 * time.Second},
		{"--host web-1,web-2", "", []string{"web-1", "web-2"}, 30 * time.Second},
		{"--host Web.1", "invalid host id", nil, 0},
		{"--timeout 0s", "--timeout must be", nil, 0},
		{"--timeout 2h", "--timeout must be", nil, 0},
		{"extra", "unknown command", nil, 0},
		{"--batch 0", "--batch", nil, 0},
		{"--batch 120%", "--batch", nil, 0},
		{"--batch -2", "--batch", nil, 0},
		{"--batch 2 --max-failures abc", "--max-failures", nil, 0},
		{"--batch 2 --batch-wait -1s", "--batch-wait", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			var got *StatusOptions
			cmd := NewCmdStatus(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *StatusOptions) error { got = o; return nil })
			args, _ := shlex.Split(tc.args)
			cmd.SetArgs(args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Hosts, ",") != strings.Join(tc.hosts, ",") || got.Timeout != tc.timeout {
				t.Fatalf("hosts %v timeout %s", got.Hosts, got.Timeout)
			}
		})
	}
}

func TestStatusRunAccountsForMissingHosts(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	agents := ct.StartAgents(t, c, cl, "web", 3)
	ct.WaitOnline(t, cl, 3)
	if err := agents[1].Kill(); err != nil {
		t.Fatal(err)
	}

	ios, _, out, errOut := cmdutil.Test()
	opts := &StatusOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Timeout: 20 * time.Second,
		Hosts: []string{"web-1", "web-2", "web-3", "ghost"}}
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		out.Reset()
		errOut.Reset()
		err := statusRun(context.Background(), opts)
		var ec *cmdutil.ExitCodeError
		if !errors.As(err, &ec) || ec.Code != 3 {
			return err
		}
		if !strings.Contains(out.String(), "web-2\tmissing: not connected") {
			return errors.New("web-2 not yet reported as not connected:\n" + out.String())
		}
		return nil
	})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want one row per host, got:\n%s", out.String())
	}
	for _, want := range []string{"web-1\tok\tweb-1\t", "web-3\tok\tweb-3\t", "ghost\tmissing: not in registry; not connected"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "4 expected, 2 responded, 2 missing") ||
		!strings.Contains(errOut.String(), "missing: web-2 (not connected; ") {
		t.Errorf("summary: %s", errOut.String())
	}

	// --json is the whole result and nothing else on stdout.
	out.Reset()
	opts.JSON, opts.Hosts = true, []string{"web-1"}
	if err := statusRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "{") || !strings.Contains(out.String(), `"expected": 1`) ||
		!strings.Contains(out.String(), `"machine_id"`) {
		t.Fatalf("json: %s", out.String())
	}

	// --summary keeps result and latency, and leaves the status out.
	out.Reset()
	opts.Summary = true
	if err := statusRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"host": "web-1"`) || strings.Contains(out.String(), `"status"`) {
		t.Fatalf("json --summary: %s", out.String())
	}
	out.Reset()
	opts.JSON = false
	if err := statusRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "web-1\tok\t-\t") {
		t.Fatalf("table --summary: %q", out.String())
	}
}

func TestStatusWithNoOnlineHostsSaysSo(t *testing.T) {
	c := ct.StartController(t)
	ios, _, _, _ := cmdutil.Test()
	err := statusRun(context.Background(), &StatusOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Timeout: time.Second})
	var ec *cmdutil.ExitCodeError
	if !errors.As(err, &ec) || ec.Code != 1 || !strings.Contains(err.Error(), "the registry has no hosts") {
		t.Fatalf("got %v", err)
	}
}

func TestStatusWhereSelectsByRoleLabelsAndFacts(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	dir := t.TempDir()
	for i, role := range []string{"worker", "worker", "db"} {
		cfg := ct.EnrollConfigWith(t, cl, c, messages.EnrollRequest{Host: fmt.Sprintf("n-%d", i+1), Role: role,
			Labels: map[string]string{"zone": []string{"eu1", "us1", "eu1"}[i]}}, dir)
		ct.RunAgent(t, cfg)
	}
	ct.WaitOnline(t, cl, 3)
	run := func(where string) (string, error) {
		ios, _, out, _ := cmdutil.Test()
		err := statusRun(context.Background(), &StatusOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Timeout: 10 * time.Second, Where: where})
		return out.String(), err
	}
	for where, want := range map[string][]string{
		"role=worker":                        {"n-1", "n-2"},
		"role=worker and label.zone=eu1":     {"n-1"},
		"not role=worker or id=n-2":          {"n-2", "n-3"},
		"os=debian and mem_total>=8GiB":      {"n-1", "n-2", "n-3"},
		"label.zone in (us1,ap1) and cpus>1": {"n-2"},
	} {
		out, err := run(where)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			got = append(got, strings.Split(line, "\t")[0])
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: got %v, want %v", where, got, want)
		}
	}
	if _, err := run("role=nobody"); err == nil || !strings.Contains(err.Error(), `no host matches --where "role=nobody"`) {
		t.Errorf("empty selection: %v", err)
	}
	// On a terminal too, an empty selection is the error alone: it
	// printed an empty table (its header) before.
	ios, _, out, errOut := cmdutil.Test()
	ios.SetTTY(false, true)
	err := statusRun(context.Background(), &StatusOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Timeout: 10 * time.Second, Where: "role=nobody"})
	if err == nil || out.Len() != 0 || errOut.Len() != 0 {
		t.Errorf("empty selection on a terminal: %v; stdout %q, stderr %q", err, out.String(), errOut.String())
	}
	if _, err := run("role=worker and"); err == nil || !strings.Contains(err.Error(), "position") {
		t.Errorf("malformed expression: %v", err)
	}
}
