package audit

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--since -5m":        "--since must be positive",
		"--operator Bad.One": "invalid operator name",
		"--operator >":       "invalid operator name",
		"extra":              "unknown command",
	} {
		ios, _, _, _ := cmdutil.Test()
		cmd := NewCmdList(&cmdutil.Factory{IO: ios}, func(context.Context, *Options) error { return nil })
		cmd.SetArgs(strings.Fields(args))
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", args, err, want)
		}
	}
}

func TestListShowsWhoDidWhatAndFiltersByOperator(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ct.StartAgents(t, c, admin, "web", 1)
	ct.WaitOnline(t, admin, 1)
	viewer, err := ct.ClientAs(t, c, ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	st, err := viewer.FleetStatus(t.Context(), messages.FleetStatusRequest{TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}

	ios, _, out, _ := cmdutil.Test()
	if err := run(context.Background(), &Options{IO: ios, Connect: ct.ConnectFunc(t, c), Since: time.Hour, Operator: "viewer"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want the issued and the completed record of viewer's status, got:\n%s", out.String())
	}
	for i, outcome := range []string{"issued", "succeeded"} {
		f := strings.Split(lines[i], "\t")
		if len(f) != 7 || f[1] != "viewer" || f[2] != "cmd" || f[3] != "fleet.status status" || f[4] != outcome || f[5] != "web-1" || f[6] != st.RequestID {
			t.Fatalf("line %d: %q", i, lines[i])
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Fatalf("piped time is not RFC 3339: %q", f[0])
		}
	}
	// JSON lines carry the whole record; admin's own records are there
	// without a filter.
	ios, _, out, _ = cmdutil.Test()
	if err := run(context.Background(), &Options{IO: ios, Connect: ct.ConnectFunc(t, c), Since: time.Hour, JSON: true}); err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r struct {
			messages.AuditRecord
			Time string `json:"time"` // RFC 3339 in CLI output
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if _, err := time.Parse(time.RFC3339, r.Time); err != nil {
			t.Fatalf("JSON time is not RFC 3339: %q", line)
		}
		ops[r.Operator] = true
	}
	if !ops["admin"] || !ops["viewer"] {
		t.Fatalf("operators in the trail: %v", ops)
	}
}

func TestTailFollowsNewRecords(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ios, _, _, _ := cmdutil.Test()
	buf := &ct.LogBuffer{} // a goroutine-safe writer
	ios.Out = buf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &Options{IO: ios, Connect: ct.ConnectFunc(t, c), Follow: true, Operator: "ops2"})
	}()
	// ops2 keeps making audited calls (revoking nobody fails, and is
	// recorded) until the follower, which started with no history, shows
	// one; admin's own records (creating ops2) must not appear.
	ops2, err := ct.ClientAs(t, c, ct.CreateOperator(t, admin, "ops2", controller.RoleAdmin))
	if err != nil {
		t.Fatal(err)
	}
	ct.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		_, _ = ops2.RevokeOperator(t.Context(), messages.OperatorRevokeRequest{Name: "nobody"})
		if !strings.Contains(buf.String(), "operator.revoke") {
			return context.DeadlineExceeded
		}
		return nil
	})
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if f := strings.Split(line, "\t"); len(f) != 7 || f[1] != "ops2" {
			t.Fatalf("tail printed a record it should have filtered out: %q", line)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTerminalTableHasAHeaderAndStaysAligned: on a terminal the records
// had no header, and a long target list pushed the request id of its line
// out of its column.
func TestTerminalTableHasAHeaderAndStaysAligned(t *testing.T) {
	ios, _, out, _ := cmdutil.Test()
	ios.SetTTY(false, true)
	o := &Options{IO: ios}
	recs := []messages.AuditRecord{
		{Time: 1, Operator: "admin", Source: "api", Action: "host.list", Outcome: "succeeded", RequestID: "req-short"},
		{Time: 2, Operator: "an-operator-with-a-long-name", Source: "cmd", Action: "fleet.status", Verb: "status",
			Outcome: "partial", Targets: []string{"a-rather-long-host-name-1", "a-rather-long-host-name-2"}, RequestID: "req-long"},
	}
	for _, r := range recs {
		if err := printRecord(o, r); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME ") {
		t.Fatalf("want a header and two records:\n%s", out.String())
	}
	col := strings.Index(lines[0], "REQUEST")
	for i, id := range []string{"req-short", "req-long"} {
		if got := utf8.RuneCountInString(lines[i+1][:max(0, strings.Index(lines[i+1], id))]); got != col {
			t.Errorf("line %d: request id at column %d, header at %d:\n%s", i+1, got, col, out.String())
		}
	}
	if !strings.Contains(lines[2], "…") {
		t.Errorf("a cut value is not marked: %q", lines[2])
	}
}
