package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
)

func TestListTableOnTTYAndTSVWhenPiped(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ct.StartAgents(t, c, cl, "db", 2)
	ct.WaitOnline(t, cl, 2)
	now := func() time.Time { return time.Now() }

	ios, _, out, _ := cmdutil.Test()
	ios.SetTTY(false, true)
	if err := listRun(context.Background(), &ListOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Now: now}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "HOST ") || !strings.Contains(lines[1], "db-1  ") ||
		!strings.Contains(lines[1], "online") || !strings.Contains(lines[1], "s ago") || !strings.Contains(lines[1], "debian 12") {
		t.Fatalf("TTY table:\n%s", out.String())
	}

	ios, _, out, _ = cmdutil.Test()
	if err := listRun(context.Background(), &ListOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Now: now}); err != nil {
		t.Fatal(err)
	}
	f := strings.Split(strings.Split(out.String(), "\n")[1], "\t")
	if len(f) != 6 || f[0] != "db-2" || f[1] != "online" || f[4] != "debian 12" || f[5] != "test" {
		t.Fatalf("TSV row: %q", f)
	}
	if _, err := time.Parse(time.RFC3339, f[2]); err != nil {
		t.Fatalf("piped time is not RFC 3339: %q", f[2])
	}

	ios, _, out, _ = cmdutil.Test()
	if err := listRun(context.Background(), &ListOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Now: now, JSON: true, State: "offline"}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("no offline hosts expected: %s", out.String())
	}
}

func TestEnrollWritesARunnableAgentDir(t *testing.T) {
	c := ct.StartController(t)
	dir := filepath.Join(t.TempDir(), "web-1")
	ios, _, out, _ := cmdutil.Test()
	opts := &EnrollOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Host: "web-1", Dir: dir, Heartbeat: 200 * time.Millisecond}
	if err := enrollRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "web-1 enrolled") {
		t.Fatalf("output: %s", out.String())
	}
	st, err := os.Stat(filepath.Join(dir, "agent.nk"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file: %v %v", st, err)
	}
	cfg, err := agent.LoadConfig(filepath.Join(dir, "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ct.RunAgent(t, cfg)
	ct.WaitOnline(t, ct.Client(t, c), 1)

	// Enrolling again with the same directory reuses the key: unchanged.
	out.Reset()
	if err := enrollRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "already enrolled") {
		t.Fatalf("re-run: %s", out.String())
	}
}

func TestEnrollFlags(t *testing.T) {
	for args, want := range map[string]string{
		"web-1":                            "exactly one of --public-key or --dir",
		"web-1 --dir /x --public-key UABC": "exactly one of --public-key or --dir",
		"Web.1 --dir /x":                   "invalid host id",
		"":                                 "accepts 1 arg",
	} {
		ios, _, _, _ := cmdutil.Test()
		cmd := NewCmdEnroll(&cmdutil.Factory{IO: ios}, func(context.Context, *EnrollOptions) error { return nil })
		cmd.SetArgs(strings.Fields(args))
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", args, err, want)
		}
	}
}
