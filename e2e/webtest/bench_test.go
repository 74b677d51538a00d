package webtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
)

// TestFleetViewBenchmark measures the fleet page with thousands of
// simulated agents (`foundry-agent simulate`, in its own process): how
// long the browser takes from navigation to every row drawn, the
// snapshot's size, and what one host going away costs on the wire (the
// delta) against what sending the whole list would (the snapshot, the
// baseline in the same run). Sizes grow in one run: the first fleet, then
// more agents join it.
//
//	FOUNDRY_BENCH=1 FOUNDRY_BENCH_WEB_SIZES=1000,10000 go test -count=1 -v -run TestFleetViewBenchmark -timeout 30m ./e2e/webtest/
func TestFleetViewBenchmark(t *testing.T) {
	if os.Getenv("FOUNDRY_BENCH") != "1" {
		t.Skip("a benchmark: set FOUNDRY_BENCH=1 (see BENCHMARKS.md)")
	}
	sizes := []int{1000, 10000}
	if v := os.Getenv("FOUNDRY_BENCH_WEB_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 {
				t.Fatalf("FOUNDRY_BENCH_WEB_SIZES %q: want sizes of at least 2", v)
			}
			sizes = append(sizes, n)
		}
	}
	work := t.TempDir()
	bin := filepath.Join(work, "foundry-agent")
	build := exec.Command("go", "build", "-o", bin, "./cmd/foundry-agent")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build foundry-agent: %v\n%s", err, out)
	}
	c, ts := startView(t, func(o *controller.Options) {
		o.HeartbeatBase = controller.DefaultHeartbeatBase
		o.SweepInterval = time.Second
	})
	ctx := browser(t, 25*time.Minute)
	admin := ct.Client(t, c)
	ca := ct.WriteCA(t, c)
	link, err := admin.WebLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(link.URL)); err != nil {
		t.Fatal(err)
	}
	shots := artifacts(t)

	type row struct {
		n                int
		loadMs, renderMs float64
		snapshotB        int
		deltaB           []int
		turnMs           float64
		quietMsgs        int
		quietFor         time.Duration
	}
	var rows []row
	have := 0
	dir := filepath.Join(work, "sim")
	for i, n := range sizes {
		// Simulated agents and, per size, one real agent process to
		// SIGKILL (those of earlier sizes stay, disconnected).
		add := n - (i + 1) - have
		if add > 0 {
			ramp := time.Duration(add) * time.Millisecond // ≈ 1,000 connections a second
			sim := exec.Command(bin, "simulate", "--enroll", "--controller", c.URLs()[0], "--creds", c.AdminCredsPath(), "--ca", ca,
				"--dir", dir, "--count", strconv.Itoa(add), "--first", strconv.Itoa(have+1), "--ramp", ramp.String(),
				"--share-signature-checks", "--enroll-parallel", "32")
			waitConnected(t, sim, filepath.Join(work, fmt.Sprintf("sim-%d.stderr", n)), 15*time.Minute)
			have += add
		}
		victim := ct.StartAgentProcess(t, ct.EnrollConfig(t, admin, c, fmt.Sprintf("victim-%d", n), work), work)
		ct.WaitOnlineFor(t, admin, have+1, 5*time.Minute, time.Second)

		var r row
		r.n = have + i + 1
		start := time.Now()
		if err := chromedp.Run(ctx, chromedp.Navigate(ts.URL+"/"), chromedp.Evaluate(`window.foundryDeltaBytes = []`, nil)); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, 5*time.Minute, "every row drawn", fmt.Sprintf(`document.body.dataset.fleetRows === "%d" && document.body.dataset.fleetPaintMs !== undefined`, r.n))
		r.loadMs = float64(time.Since(start).Microseconds()) / 1000
		var render, snap string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.body.dataset.fleetPaintMs`, &render),
			chromedp.Evaluate(`document.body.dataset.snapshotBytes`, &snap)); err != nil {
			t.Fatal(err)
		}
		r.renderMs, _ = strconv.ParseFloat(render, 64)
		r.snapshotB, _ = strconv.Atoi(snap)

		// Quiet fleet: heartbeats alone send nothing; what is sent is a
		// host changing state (the simulator's hosts can go stale when
		// the machine is loaded).
		if err := chromedp.Run(ctx, chromedp.Evaluate(`window.foundryDeltaBytes = []; window.foundryDeltaHosts = []`, nil)); err != nil {
			t.Fatal(err)
		}
		r.quietFor = 5 * time.Second
		quiet := time.NewTimer(r.quietFor)
		<-quiet.C
		var quietHosts []string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`window.foundryDeltaBytes.length`, &r.quietMsgs),
			chromedp.Evaluate(`window.foundryDeltaHosts`, &quietHosts)); err != nil {
			t.Fatal(err)
		}
		if len(quietHosts) > 20 {
			quietHosts = append(quietHosts[:20], "...")
		}
		t.Logf("%d hosts, quiet %v: %d messages, hosts in them: %v", r.n, r.quietFor, r.quietMsgs, quietHosts)

		if err := chromedp.Run(ctx, chromedp.Evaluate(`window.foundryDeltaBytes = []`, nil)); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("victim-%d", n)
		poll(t, ctx, time.Minute, id+" leaves online", fmt.Sprintf(`document.querySelector("#host-%s .state").textContent !== "online"`, id))
		r.turnMs = float64(time.Since(killed).Microseconds()) / 1000
		if err := chromedp.Run(ctx, chromedp.Evaluate(`window.foundryDeltaBytes`, &r.deltaB)); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
		t.Logf("%d hosts: page load to every row %.0f ms (table built and painted in %.0f ms), snapshot %d B, deltas after one kill %v B, row turned after %.0f ms, %d messages in %v quiet",
			r.n, r.loadMs, r.renderMs, r.snapshotB, r.deltaB, r.turnMs, r.quietMsgs, r.quietFor)
		screenshot(t, ctx, shots, fmt.Sprintf("fleet-%d", r.n))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| hosts | load to every row (ms) | build and paint the table (ms) | snapshot (B) | deltas after one host dies (B) | delta ÷ snapshot | row turned (ms) | messages in %v quiet |\n|---|---|---|---|---|---|---|---|\n", rows[0].quietFor)
	for _, r := range rows {
		total := 0
		for _, d := range r.deltaB {
			total += d
		}
		fmt.Fprintf(&b, "| %d | %.0f | %.0f | %d | %v | %.5f | %.0f | %d |\n", r.n, r.loadMs, r.renderMs, r.snapshotB, r.deltaB,
			float64(total)/float64(max(r.snapshotB, 1)), r.turnMs, r.quietMsgs)
	}
	if len(rows) > 1 {
		fmt.Fprintf(&b, "\nrender %d ÷ %d hosts: %.1f×; load %.1f×\n", rows[len(rows)-1].n, rows[0].n,
			rows[len(rows)-1].renderMs/max(rows[0].renderMs, 0.1), rows[len(rows)-1].loadMs/max(rows[0].loadMs, 0.1))
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("FOUNDRY_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var allConnected = regexp.MustCompile(`^simulate: all \d+ agents connected in `)

// waitConnected starts the simulator and waits for its "all connected"
// line; it runs (and says goodbye on SIGTERM) until the test ends.
func waitConnected(t *testing.T, cmd *exec.Cmd, stderrPath string, within time.Duration) {
	t.Helper()
	stderr, err := os.Create(stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		stderr.Close()
	})
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if allConnected.MatchString(sc.Text()) {
				close(found)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-found:
	case <-time.After(within):
		t.Fatalf("the simulator did not connect every agent within %v; see %s", within, stderrPath)
	}
}
