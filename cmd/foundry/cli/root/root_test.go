package root

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/shlex"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/packaging/buildinfo"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	t.Setenv("FOUNDRY_HOME", t.TempDir())
	for _, k := range []string{"FOUNDRY_CONTROLLER", "FOUNDRY_CREDS", "FOUNDRY_CA"} {
		t.Setenv(k, "")
	}
	f := NewFactory(ios, slog.New(slog.DiscardHandler), "v1.2.3")
	code := Run(context.Background(), f, args)
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	// The test binary carries no VCS stamp, so the commit is unknown; the
	// Go version and platform are this test's own.
	want := "version:    v1.2.3\ncommit:     unknown\ngo:         " + runtime.Version() + "\nplatform:   " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if code != 0 || out != want {
		t.Fatalf("%d %q, want %q", code, out, want)
	}
}

func TestVersionFlagPrintsOneLine(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	want := "foundry v1.2.3 (commit unknown, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if code != 0 || out != want {
		t.Fatalf("%d %q, want %q", code, out, want)
	}
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := runCLI(t, "version", "--json")
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("%d %v %q", code, err, out)
	}
	if got.Version != "v1.2.3" || got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("%+v", got)
	}
}

func TestUsageErrorsExitTwoWithAHint(t *testing.T) {
	code, _, errOut := runCLI(t, "host", "list", "--bogus")
	if code != ExitUsage || !strings.Contains(errOut, "unknown flag: --bogus") || !strings.Contains(errOut, "--help") {
		t.Fatalf("%d %q", code, errOut)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	c := ct.StartController(t)
	ca := ct.WriteCA(t, c)
	stranger := filepath.Join(t.TempDir(), "stranger.nk")
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	os.WriteFile(stranger, seed, 0o600)

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no credentials", []string{"host", "list"}, "pass --creds or run foundry controller run first"},
		{"controller down", []string{"host", "list", "--controller", "tls://127.0.0.1:1", "--creds", c.AdminCredsPath(), "--ca", ca}, "start it with `foundry controller run` or pass --controller"},
		{"unknown operator", []string{"host", "list", "--controller", c.URLs()[0], "--creds", stranger, "--ca", ca}, "check --creds"},
		{"missing CA", []string{"host", "list", "--controller", c.URLs()[0], "--creds", c.AdminCredsPath(), "--ca", "/nonexistent/ca.pem"}, "pass --ca with the controller's ca.pem"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != ExitError || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want one line containing %q", code, errOut, tc.want)
			}
		})
	}
	code, out, _ := runCLI(t, "host", "list", "--controller", c.URLs()[0], "--creds", c.AdminCredsPath(), "--ca", ca, "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("%d %q", code, out)
	}
}

// TestWhereErrorIsWhatTheDocShows runs the command of the first console
// example in docs/targeting.md and compares its stderr with the example,
// caret included: the doc showed a caret the CLI did not print.
func TestWhereErrorIsWhatTheDocShows(t *testing.T) {
	doc, err := os.ReadFile("../../../../docs/targeting.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```console\n$ foundry ")
	if !ok {
		t.Fatal("docs/targeting.md has no console example")
	}
	block, _, _ = strings.Cut(block, "```")
	cmdline, want, _ := strings.Cut(block, "\n")
	args, err := shlex.Split(cmdline)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, args...)
	if code != ExitUsage || errOut != want {
		t.Fatalf("foundry %s: exit %d, stderr:\n%s\nthe doc shows:\n%s", cmdline, code, errOut, want)
	}
}
