package stack

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/controller"
	comp "github.com/foundry-fleet/foundry/controller/component"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/messages"
)

// statusResults are what stack status computes for a stack of a host
// service and two releases (ClusterStatus's answers; the Helm part is
// tested against the K3s stand-in in e2e/helmtest).
func statusResults() []clicomp.StatusResult {
	healthy := func(host string) clicomp.HostStatus {
		return clicomp.HostStatus{HostResult: comp.HostResult{Host: host, State: messages.HostOK,
			Status: &messages.ServiceStatus{Component: "zot", Installed: true, Version: "2.0.0", ActiveState: "active", HealthStatus: 200}}, Healthy: true}
	}
	return []clicomp.StatusResult{
		{Component: "zot", Desired: "2.0.0", Job: "j1", Hosts: []clicomp.HostStatus{healthy("reg-1")}},
		{Component: "grafana", Desired: "12.11.1", Release: &helm.Status{Release: "grafana", Namespace: "monitoring", Revision: 2,
			Chart: "grafana", ChartVersion: "12.11.1", AppVersion: "12.1.0", Status: "deployed", Ready: true,
			Workloads: []helm.Workload{{Kind: "Deployment", Name: "grafana", Ready: true}}}},
		{Component: "loki", Release: &helm.Status{Release: "loki", Namespace: "monitoring", Status: "not installed: " + strings.Repeat("release: not found ", 40) + "\nsecond line"}},
	}
}

// TestStackStatusReportsTheClusterToTheController: after a status run,
// the controller holds what it saw of the cluster (for the web view),
// checked when the run read it and reported by the operator who ran it;
// host services are not reported (their job replies are the
// controller's already).
func TestStackStatusReportsTheClusterToTheController(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ios, _, out, _ := cmdutil.Test()
	ios.SetTTY(false, false)
	o := &Options{Env: clicomp.Env{IO: ios}}
	checked := time.Now().Add(-time.Second)
	err := statusDone(context.Background(), o, admin, "prod", statusResults(), checked)
	var ec *cmdutil.ExitCodeError
	if !errors.As(err, &ec) || ec.Code != 3 || !strings.Contains(err.Error(), "loki") {
		t.Fatalf("exit %v, want 3 for loki", err)
	}
	if !strings.Contains(out.String(), "grafana\t(cluster)\t12.11.1") || !strings.Contains(out.String(), "zot\treg-1\t2.0.0") {
		t.Fatalf("printed:\n%s", out)
	}
	list, err := admin.Stack(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Components) != 2 {
		t.Fatalf("reported %+v, want grafana and loki only", list.Components)
	}
	g, l := list.Components[0], list.Components[1]
	if g.Component != "grafana" || !g.Healthy || g.Cluster != "prod" || g.Namespace != "monitoring" || g.ChartVersion != "12.11.1" ||
		g.Desired != "12.11.1" || g.Workloads != 1 || g.WorkloadsReady != 1 || g.CheckedAt != checked.UnixMilli() || g.Operator != "admin" {
		t.Fatalf("grafana reported as %+v", g)
	}
	if l.Component != "loki" || l.Healthy || !strings.HasPrefix(l.Status, "not installed: release: not found") ||
		len(l.Status) > 256 || strings.Contains(l.Status, "\n") {
		t.Fatalf("loki reported as %+v; want unhealthy, its status one clipped line", l)
	}
}

// TestStackStatusOfAReadOnlyOperatorReportsNothingAndStillSucceeds: a
// read-only operator may run stack status but not report; the refusal
// is logged at debug level and changes neither the output nor the exit
// code.
func TestStackStatusOfAReadOnlyOperatorReportsNothingAndStillSucceeds(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ro, err := ct.ClientAs(t, c, ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := cmdutil.Test()
	ios.SetTTY(false, false)
	logs := &ct.LogBuffer{}
	o := &Options{Env: clicomp.Env{IO: ios, Log: logs.Logger()}}
	rs := statusResults()[:2] // healthy: zot and grafana
	start := time.Now()
	if err := statusDone(context.Background(), o, ro, "prod", rs, time.Now()); err != nil {
		t.Fatalf("read-only stack status failed: %v\n%s", err, errOut)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refused report took %s; the refusal should come at once", took)
	}
	if !strings.Contains(out.String(), "grafana\t(cluster)") || errOut.Len() != 0 {
		t.Fatalf("out:\n%s\nerr:\n%s", out, errOut)
	}
	if !strings.Contains(logs.String(), `"level":"DEBUG"`) || !strings.Contains(logs.String(), "read-only operator may not report") {
		t.Fatalf("no debug line about the skipped report in:\n%s", logs)
	}
	list, err := admin.Stack(context.Background())
	if err != nil || len(list.Components) != 0 {
		t.Fatalf("stored %+v %v, want nothing", list.Components, err)
	}
}
