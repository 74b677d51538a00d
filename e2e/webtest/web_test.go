// Package webtest drives the controller's web view in a real browser:
// Debian's chromium, headless, through the DevTools protocol (chromedp).
// The controller and the agents are real and run on loopback (agents as
// child processes, so one can be SIGKILLed); no systemd host is booted,
// so these tests do not take the e2e host lock.
package webtest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/web"
	"github.com/foundry-fleet/foundry/messages"
)

func TestMain(m *testing.M) {
	ct.RunAgentProcessIfAsked()
	os.Exit(m.Run())
}

// chromium finds Debian's chromium or skips, saying how to get it.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: apt-get install -y --no-install-recommends chromium (.ci/run installs it)")
	return ""
}

// artifacts is a directory kept after the test for its screenshots.
func artifacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FOUNDRY_WEB_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "foundry-web-e2e-"); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// startView runs a controller with the web view on loopback.
func startView(t testing.TB, mutate ...func(*controller.Options)) (*controller.Controller, *httptest.Server) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	srv, err := web.New(web.Config{BaseURL: "http://" + ts.Listener.Addr().String(), Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mutate = append(mutate, func(o *controller.Options) {
		o.WebLogin = func(_ context.Context, op controller.Operator) (messages.WebLoginResult, error) {
			return srv.IssueLogin(op.Name, op.Role, op.PublicKey), nil
		}
	})
	c := ct.StartController(t, mutate...)
	ctx, cancel := context.WithCancel(context.Background())
	srv.Attach(ctx, c, c.MetricsHandler())
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(cancel) // first: it ends the open streams ts.Close waits for
	return c, ts
}

// browser starts headless chromium; the context ends with the test.
func browser(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelT := context.WithTimeout(bctx, timeout)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshot saves the whole page, or only the window when the page is
// longer than chromium captures at once (10,000 rows).
func screenshot(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Logf("full-page screenshot %s: %v; taking the window only", name, err)
		if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// poll waits until the page's expression is true.
func poll(t testing.TB, ctx context.Context, within time.Duration, what, expr string) time.Duration {
	t.Helper()
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := chromedp.Run(pctx, chromedp.Poll(expr, nil, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		var body string
		_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector("main").innerText.slice(0, 2000)`, &body))
		t.Fatalf("%s: not within %v (%v); page:\n%s", what, within, err, body)
	}
	return time.Since(start)
}

func TestBrowserLogsInSeesTheFleetLiveAndAJobMove(t *testing.T) {
	shots := artifacts(t)
	c, ts := startView(t)
	ctx := browser(t, 2*time.Minute) // after startView: its cleanup closes the browser first
	admin := ct.Client(t, c)
	const n = 4
	dir := t.TempDir()
	procs := make([]*exec.Cmd, n)
	for i := range n {
		procs[i] = ct.StartAgentProcess(t, ct.EnrollConfig(t, admin, c, fmt.Sprintf("web-%d", i+1), dir), dir)
	}
	ct.WaitOnline(t, admin, n)

	link, err := admin.WebLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(link.URL)); err != nil {
		t.Fatal(err)
	}
	var url string
	if err := chromedp.Run(ctx, chromedp.Location(&url)); err != nil || url != ts.URL+"/" {
		t.Fatalf("after the login link the browser is at %q (%v), want %s/", url, err, ts.URL)
	}
	poll(t, ctx, 10*time.Second, "4 online hosts in the fleet table",
		fmt.Sprintf(`document.querySelectorAll("#fleet-body tr").length === %d && document.querySelectorAll("#fleet-body .state-online").length === %d`, n, n))
	poll(t, ctx, 5*time.Second, "counts", `document.getElementById("count-online").textContent === "online 4"`)
	screenshot(t, ctx, shots, "1-fleet")

	// A marker a reload would lose.
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.noReload = true`, nil)); err != nil {
		t.Fatal(err)
	}
	killed := procs[1]
	if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took := poll(t, ctx, 5*time.Second, "web-2's row leaves online",
		`document.querySelector("#host-web-2 .state").textContent !== "online" && window.noReload === true`)
	var state string
	_ = chromedp.Run(ctx, chromedp.Text("#host-web-2 .state", &state))
	t.Logf("web-2 shown %s %v after SIGKILL, without reload", state, took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("web-2 turned %s only after %v; the view should show it within about a second", state, took)
	}
	screenshot(t, ctx, shots, "2-killed")

	// A job over the live hosts, one host per batch with a pause, so its
	// progress moves while the page watches.
	job, err := admin.RunJob(context.Background(), messages.JobRunRequest{Verb: messages.VerbStatus,
		Hosts: []string{"web-1", "web-3", "web-4"}, Batch: "1", BatchWaitMs: 1500})
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`location.hash = "#job/%s"`, job.ID), nil)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, 10*time.Second, "the job page shows the job running with a host done",
		`document.body.dataset.jobState === "running" && Number(document.body.dataset.jobDone) >= 1 && Number(document.body.dataset.jobDone) < 3`)
	var first string
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body.dataset.jobDone`, &first))
	screenshot(t, ctx, shots, "3-job-running")
	poll(t, ctx, 15*time.Second, "the job's progress moves",
		fmt.Sprintf(`Number(document.body.dataset.jobDone) > %s`, first))
	poll(t, ctx, 20*time.Second, "the job finishes", `document.body.dataset.jobState === "succeeded" && document.body.dataset.jobDone === "3"`)
	screenshot(t, ctx, shots, "4-job-done")

	// The events page lists the kill, from the stream.
	if err := chromedp.Run(ctx, chromedp.Evaluate(`location.hash = "#events"`, nil)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, 10*time.Second, "events list web-2", `Array.from(document.querySelectorAll("#events-body td")).some(td => td.textContent === "web-2")`)
	screenshot(t, ctx, shots, "5-events")
}

// The stack page shows a cluster component as the CLI's last status run
// reported it: where it runs, its versions and health, and when and by
// whom it was checked; and K3s's nodes, one row each.
func TestBrowserStackPageShowsTheReportedCluster(t *testing.T) {
	shots := artifacts(t)
	c, _ := startView(t)
	ctx := browser(t, time.Minute)
	admin := ct.Client(t, c)
	checked := time.Now().Add(-time.Minute).UnixMilli()
	_, err := admin.ReportStack(context.Background(), messages.StackReport{Components: []messages.ClusterComponentStatus{
		{Component: "grafana", Cluster: "prod", Release: "grafana", Namespace: "monitoring", Revision: 2, ChartVersion: "12.11.1", AppVersion: "12.1.0",
			Status: "deployed", Healthy: true, Workloads: 1, WorkloadsReady: 1, CheckedAt: checked},
		{Component: "k3s", Cluster: "prod", Status: "API ready, 0/1 nodes Ready", AppVersion: "v1.31.4+k3s1", CheckedAt: checked,
			Nodes: []messages.ClusterNodeStatus{{Name: "node-1", Roles: "control-plane", Version: "v1.31.4+k3s1", Problem: "not Ready"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	link, err := admin.WebLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(link.URL), chromedp.Evaluate(`location.hash = "#stack"`, nil)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, 10*time.Second, "grafana's release row, healthy, in its namespace, checked by admin",
		`(() => { const r = document.getElementById("stack-cluster-grafana"); return !!r && r.dataset.healthy === "true" &&
			r.cells[1].textContent === "healthy" && r.cells[2].textContent === "cluster prod, namespace monitoring" &&
			r.cells[3].textContent.startsWith("12.11.1") && r.cells[4].textContent.startsWith("deployed rev 2, 1/1 ready") &&
			r.cells[5].textContent.endsWith(" by admin"); })()`)
	poll(t, ctx, 5*time.Second, "k3s's node row, unhealthy",
		`(() => { const r = document.getElementById("stack-node-k3s-node-1"); return !!r && r.cells[1].textContent === "unhealthy" &&
			r.cells[2].textContent === "node node-1" && r.cells[4].textContent.includes("not Ready"); })()`)
	screenshot(t, ctx, shots, "stack-cluster")
}
