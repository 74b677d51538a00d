package component

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/installer/helm"
)

// TestStatusNamesAHostItCouldNotReach: component status asked every host
// of the component, but printed a host it could not reach with an empty
// state column and exited 0. It must name the host as not reached, with
// why, and exit 3 like stack status.
func TestStatusNamesAHostItCouldNotReach(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	agents := ct.StartAgents(t, c, cl, "reg1-t-example", 1) // reg1-t-example-1
	ct.WaitOnline(t, cl, 1)
	if err := agents[0].Kill(); err != nil {
		t.Fatal(err)
	}
	env, out := testEnv(t, strings.Replace(stackYAML, "hosts: [reg1.t.example.com]", "hosts: [reg1.t.example.1]", 1))
	env.Connect = ct.ConnectFunc(t, c)
	env.IO.SetTTY(false, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := statusRun(ctx, &Options{Env: env, Name: "zot"})
	var ec *cmdutil.ExitCodeError
	if !errors.As(err, &ec) || ec.Code != 3 {
		t.Fatalf("exit %v, want 3\n%s", err, out())
	}
	row := strings.Split(strings.TrimSpace(out()), "\n")
	if len(row) != 1 || !strings.HasPrefix(row[0], "zot\treg1-t-example-1\t") || !strings.Contains(row[0], "\tnot_reached\t") ||
		!strings.Contains(row[0], "not connected") {
		t.Fatalf("row: %q", out())
	}
}

// TestAReleaseRowNamesWhatIsNotReady: a cluster component in stack status
// is one row for its release, and a workload that is not ready makes it
// unhealthy and is named.
func TestAReleaseRowNamesWhatIsNotReady(t *testing.T) {
	ios, _, out, _ := cmdutil.Test()
	ios.SetTTY(false, false)
	rel := &helm.Status{Release: "grafana", Status: "deployed", Revision: 2, ChartVersion: "12.11.1", AppVersion: "13.2.0",
		Workloads: []helm.Workload{{Kind: "Deployment", Name: "grafana", Ready: true}, {Kind: "Job", Name: "grafana-test"}}}
	rs := []StatusResult{{Component: "grafana", Release: rel}}
	if err := PrintStatus(ios, rs); err != nil {
		t.Fatal(err)
	}
	want := "grafana\t(cluster)\t12.11.1\t13.2.0\trelease deployed/2\t1/2 ready\tJob/grafana-test\t-"
	if got := strings.TrimSpace(out.String()); got != want {
		t.Fatalf("row:\n%q\nwant\n%q", got, want)
	}
	if rs[0].Healthy() {
		t.Error("a release with a workload not ready is healthy")
	}
	rel.Workloads[1].Ready, rel.Ready = true, true
	if !rs[0].Healthy() {
		t.Error("a deployed release with every workload ready is not healthy")
	}
	rel.Status = "failed"
	if rs[0].Healthy() {
		t.Error("a failed release is healthy")
	}
}
