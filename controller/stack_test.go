package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// A status run's cluster part, reported by an admin, is stored with who
// reported it and read back by anyone (read-only operators too); a
// read-only operator's report and garbage are refused and change nothing.
func TestStackReportIsStoredForAdminsOnly(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ctx := context.Background()
	checked := time.Now().Add(-time.Minute).UnixMilli()
	grafana := messages.ClusterComponentStatus{Component: "grafana", Cluster: "prod", Release: "grafana", Namespace: "monitoring",
		Revision: 2, Chart: "grafana", ChartVersion: "12.11.1", AppVersion: "12.1.0", Desired: "12.11.1",
		Status: "deployed", Healthy: true, Workloads: 1, WorkloadsReady: 1, CheckedAt: checked,
		Operator: "someone-else", Reported: 1} // the controller sets these two
	loki := messages.ClusterComponentStatus{Component: "loki", Cluster: "prod", Release: "loki", Namespace: "monitoring",
		Status: "failed", Workloads: 2, WorkloadsReady: 1, NotReady: "StatefulSet/loki", CheckedAt: checked}
	res, err := admin.ReportStack(ctx, messages.StackReport{Components: []messages.ClusterComponentStatus{grafana, loki}})
	if err != nil || res.Stored != 2 {
		t.Fatalf("admin report: %+v %v", res, err)
	}

	ro, err := ct.ClientAs(t, c, ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	list, err := ro.Stack(ctx)
	if err != nil {
		t.Fatalf("read-only stack list: %v", err)
	}
	if len(list.Components) != 2 {
		t.Fatalf("stored %+v, want grafana and loki", list.Components)
	}
	g, l := list.Components[0], list.Components[1]
	if g.Component != "grafana" || !g.Healthy || g.ChartVersion != "12.11.1" || g.Namespace != "monitoring" || g.CheckedAt != checked ||
		g.Operator != "admin" || g.Reported < checked {
		t.Fatalf("grafana stored as %+v", g)
	}
	if l.Component != "loki" || l.Healthy || l.Status != "failed" || l.NotReady != "StatefulSet/loki" {
		t.Fatalf("loki stored as %+v", l)
	}
	waitAudit(t, admin, "stack.report by admin", func(r messages.AuditRecord) bool {
		return r.Operator == "admin" && r.Action == "stack.report" && r.Outcome == messages.OutcomeSucceeded
	})

	// A read-only operator may not report: NATS refuses the publish...
	bad := loki
	bad.Healthy, bad.Status, bad.CheckedAt = true, "deployed", time.Now().UnixMilli()
	_, err = ro.ReportStack(ctx, messages.StackReport{Components: []messages.ClusterComponentStatus{bad}})
	if err == nil || !client.IsForbidden(err) {
		t.Fatalf("read-only report: %v, want forbidden", err)
	}
	// ...and so does the controller, should the publish get through.
	body, _ := json.Marshal(messages.StackReport{Components: []messages.ClusterComponentStatus{bad}})
	kp := keyPair(t, ct.CreateOperator(t, admin, "viewer2", controller.RoleReadOnly))
	if e := apiError(t, c.InternalConn(), signedMsg(t, kp, messages.APIStackReport, body)); e == nil || e.Code != messages.CodeForbidden {
		t.Fatalf("report signed by a read-only operator: %+v, want forbidden", e)
	}

	// Garbage, signed by the admin, is refused.
	akp := keyPair(t, c.AdminCredsPath())
	for name, b := range map[string][]byte{
		"empty":         {},
		"not json":      []byte("loki is fine"),
		"no components": []byte(`{"components":[]}`),
		"control chars": []byte(`{"components":[{"component":"loki","status":"deployed\u001b[2J","healthy":true,"checked_at":1}]}`),
		"bad name":      []byte(`{"components":[{"component":"../loki","status":"deployed","healthy":true,"checked_at":1}]}`),
		"oversized":     []byte(`{"components":[{"component":"loki","status":"` + strings.Repeat("A", messages.MaxStackReportBytes) + `","checked_at":1}]}`),
	} {
		e := apiError(t, admin.Conn(), signedMsg(t, akp, messages.APIStackReport, b))
		if e == nil || (e.Code != messages.CodeBadRequest && e.Code != messages.CodeTooLarge) {
			t.Errorf("%s: %+v, want bad_request or too_large", name, e)
		}
	}

	// A report older than the stored one does not replace it.
	stale := loki
	stale.Healthy, stale.Status, stale.CheckedAt = true, "deployed", checked-1
	if res, err := admin.ReportStack(ctx, messages.StackReport{Components: []messages.ClusterComponentStatus{stale}}); err != nil || res.Stored != 0 {
		t.Fatalf("stale report: %+v %v, want nothing stored", res, err)
	}
	list, err = admin.Stack(ctx)
	if err != nil || len(list.Components) != 2 || list.Components[1].Healthy || list.Components[1].Status != "failed" {
		t.Fatalf("after refused and stale reports: %+v %v; want loki still failed", list.Components, err)
	}
}
