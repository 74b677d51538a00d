package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func TestReadOnlyOperatorReadsButCannotWriteAndIsAudited(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	logs := &ct.LogBuffer{}
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	ct.RunAgentWith(t, cfg, ct.AgentOptions{Logger: logs.Logger()})
	ct.WaitOnline(t, admin, 1)

	ro, err := ct.ClientAs(t, c, ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatalf("read-only operator cannot connect: %v", err)
	}
	ctx := context.Background()
	if _, err := ro.HostList(ctx); err != nil {
		t.Fatalf("read-only host list: %v", err)
	}
	if _, err := ro.Info(ctx); err != nil {
		t.Fatalf("read-only info: %v", err)
	}
	st, err := ro.FleetStatus(ctx, messages.FleetStatusRequest{Hosts: []string{"web-1"}, TimeoutMs: 5000})
	if err != nil || len(st.Responded) != 1 || st.Responded[0].Error != nil {
		t.Fatalf("read-only fleet status: %+v %v", st, err)
	}
	// The agent saw who asked: the envelope names the operator and role,
	// and the accepted command is an INFO line in its journal.
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"msg":"command accepted"`) && strings.Contains(line, `"level":"INFO"`) &&
				strings.Contains(line, `"operator":"viewer"`) && strings.Contains(line, `"role":"read-only"`) &&
				strings.Contains(line, `"id":"`+st.RequestID+`"`) && strings.Contains(line, `"verb":"status"`) {
				return nil
			}
		}
		return fmt.Errorf("no INFO command accepted line for viewer's request %s in:\n%s", st.RequestID, logs.String())
	})

	// Every write is refused, by NATS before the controller sees it.
	writes := map[string]func() error{
		"host remove": func() error { _, err := ro.RemoveHost(ctx, messages.HostRemoveRequest{Host: "web-1"}); return err },
		"host enroll": func() error { _, err := ro.Enroll(ctx, messages.EnrollRequest{Host: "x", PublicKey: "U"}); return err },
		"operator create": func() error {
			_, err := ro.CreateOperator(ctx, messages.OperatorCreateRequest{Name: "me2"})
			return err
		},
		"operator list": func() error { _, err := ro.ListOperators(ctx); return err },
		"operator revoke": func() error {
			_, err := ro.RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: "admin"})
			return err
		},
		"rotate signing key": func() error { _, err := ro.RotateSigningKey(ctx, messages.RotateSigningKeyRequest{}); return err },
		"rotate certs":       func() error { _, err := ro.RotateCerts(ctx); return err },
	}
	for name, fn := range writes {
		start := time.Now()
		err := fn()
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: the refusal took %s; the client should learn it from the server at once", name, took)
		}
		if err == nil || !strings.Contains(err.Error(), "may not call") {
			t.Errorf("%s by a read-only operator: got %v, want a refusal", name, err)
		}
	}
	// The host is still there: nothing was removed.
	hl, _ := admin.HostList(ctx)
	if len(hl.Hosts) != 1 {
		t.Fatalf("hosts after refused writes: %+v", hl.Hosts)
	}
	// NATS refused them, and the audit trail says so, naming the operator.
	waitAudit(t, admin, "server refusal of viewer's host remove", func(r messages.AuditRecord) bool {
		return r.Source == messages.AuditSourceServer && r.Operator == "viewer" && r.Role == controller.RoleReadOnly &&
			r.Action == "publish "+messages.APIHostRemove && r.Outcome == messages.OutcomeRefused
	})
	// Read-only operators may read the audit trail and the events.
	if recs := auditRecords(t, ro, "viewer"); len(recs) == 0 {
		t.Fatal("read-only operator reads no audit records about itself")
	}
	if err := ro.Events(ctx, client.EventQuery{Since: time.Hour}, func(messages.Event) error { return nil }); err != nil {
		t.Fatalf("read-only operator cannot read events: %v", err)
	}
}

// Even if NATS permissions let a read-only operator's request through (a
// misconfiguration, simulated here with the controller's own connection),
// the controller checks the role from the request's signature and refuses.
func TestControllerRefusesWriteSignedByReadOnlyOperator(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	kp := keyPair(t, ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly))
	ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())

	body, _ := json.Marshal(messages.HostRemoveRequest{Host: "web-1"})
	e := apiError(t, c.InternalConn(), signedMsg(t, kp, messages.APIHostRemove, body))
	if e == nil || e.Code != messages.CodeForbidden {
		t.Fatalf("write signed by read-only operator: %+v, want forbidden", e)
	}
	hl, _ := admin.HostList(context.Background())
	if len(hl.Hosts) != 1 {
		t.Fatal("host was removed by a read-only operator")
	}
	waitAudit(t, admin, "forbidden host.remove", func(r messages.AuditRecord) bool {
		return r.Source == messages.AuditSourceAPI && r.Operator == "viewer" && r.Action == "host.remove" &&
			r.Outcome == messages.OutcomeRefused && r.Code == messages.CodeForbidden
	})
}

func TestAPIRequestsMustBeSignedFreshAndUnaltered(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	kp := keyPair(t, c.AdminCredsPath())
	nc := c.InternalConn() // no NATS permission stands in the way: only the signature counts
	body := []byte(`{}`)

	if e := apiError(t, nc, signedMsg(t, kp, messages.APIHostList, body)); e != nil {
		t.Fatalf("a properly signed request was refused: %v", e)
	}
	unsigned := nats.NewMsg(messages.APIHostList)
	unsigned.Data = body
	replayed := signedMsg(t, kp, messages.APIOperatorList, body)
	if e := apiError(t, nc, replayed); e != nil {
		t.Fatalf("first delivery refused: %v", e)
	}
	altered := signedMsg(t, kp, messages.APIOperatorCreate, []byte(`{"name":"eve","role":"read-only","public_key":"UA"}`))
	altered.Data = []byte(`{"name":"eve","role":"admin","public_key":"UA"}`)
	moved := signedMsg(t, kp, messages.APIHostList, body)
	moved.Subject = messages.APIOperatorList
	stale := nats.NewMsg(messages.APIHostList)
	stale.Data = body
	pub, _ := kp.PublicKey()
	a, _ := messages.SignAPI(messages.APIHostList, body, pub, time.Now().Add(-10*time.Minute), kp.Sign)
	for k, v := range a.Headers() {
		stale.Header.Set(k, v)
	}
	stranger, _ := nkeys.CreateUser()
	agentSeed := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir()).NKeyFile
	forged := signedMsg(t, kp, messages.APIHostList, body)
	forged.Header.Set(messages.HeaderOperator, signedMsg(t, stranger, messages.APIHostList, body).Header.Get(messages.HeaderOperator))

	for _, tc := range []struct {
		name string
		m    *nats.Msg
		code string
	}{
		{"unsigned", unsigned, messages.CodeUnauthenticated},
		{"replayed", replayed, messages.CodeReplayed},
		{"body altered after signing", altered, messages.CodeUnauthenticated},
		{"signed for another endpoint", moved, messages.CodeUnauthenticated},
		{"too old", stale, messages.CodeUnauthenticated},
		{"unknown key", signedMsg(t, stranger, messages.APIHostList, body), messages.CodeUnauthenticated},
		{"agent key", signedMsg(t, keyPair(t, agentSeed), messages.APIHostList, body), messages.CodeUnauthenticated},
		{"claims another operator's key", forged, messages.CodeUnauthenticated},
	} {
		if e := apiError(t, nc, tc.m); e == nil || e.Code != tc.code {
			t.Errorf("%s: got %+v, want code %s", tc.name, e, tc.code)
		}
	}
	if ops, _ := admin.ListOperators(context.Background()); len(ops.Operators) != 1 {
		t.Fatalf("an altered request created an operator: %+v", ops.Operators)
	}
	waitAudit(t, admin, "unauthenticated request", func(r messages.AuditRecord) bool {
		return r.Source == messages.AuditSourceAPI && r.Operator == messages.UnknownOperator && r.Code == messages.CodeUnauthenticated
	})
}

func TestRevokedOperatorIsCutOffAtOnceAndForever(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir })
	admin := ct.Client(t, c)
	ctx := context.Background()
	bobCreds := ct.CreateOperator(t, admin, "bob", controller.RoleAdmin)
	bob, err := ct.ClientAs(t, c, bobCreds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.HostList(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := admin.RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: "bob"})
	if err != nil || res.Disconnected != 1 {
		t.Fatalf("revoke: %+v %v", res, err)
	}
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !bob.Conn().IsClosed() {
			return errors.New("bob's connection is still open")
		}
		return nil
	})
	if _, err := ct.ClientAs(t, c, bobCreds); err == nil || !errors.Is(err, client.ErrAuth) {
		t.Fatalf("revoked operator reconnected: %v", err)
	}
	// A request bob signed (say, captured before revocation) is refused too.
	body, _ := json.Marshal(messages.OperatorCreateRequest{Name: "bob2", Role: "admin", PublicKey: "UA"})
	if e := apiError(t, c.InternalConn(), signedMsg(t, keyPair(t, bobCreds), messages.APIOperatorCreate, body)); e == nil || e.Code != messages.CodeUnauthenticated {
		t.Fatalf("request signed by a revoked operator: %+v", e)
	}

	// Revoking the bootstrap admin survives a restart: the controller does
	// not re-create it from admin.nk.
	carolCreds := ct.CreateOperator(t, admin, "carol", controller.RoleAdmin)
	carol, err := ct.ClientAs(t, c, carolCreds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: "admin"}); err != nil {
		t.Fatalf("carol revokes admin: %v", err)
	}
	addr := c.Server().Addr().String()
	c.Shutdown()
	c2 := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir; o.Listen = addr })
	if _, err := ct.ClientAs(t, c2, c2.AdminCredsPath()); err == nil {
		t.Fatal("revoked bootstrap admin connected after a restart")
	}
	if _, err := ct.ClientAs(t, c2, carolCreds); err != nil {
		t.Fatalf("carol refused after restart: %v", err)
	}
}

func TestOperatorRules(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ctx := context.Background()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	adminPub := keyPair(t, c.AdminCredsPath())
	adminKey, _ := adminPub.PublicKey()
	for _, tc := range []struct {
		name string
		req  messages.OperatorCreateRequest
		code string
	}{
		{"bad name", messages.OperatorCreateRequest{Name: "Bad.Name", Role: "admin", PublicKey: pub}, messages.CodeBadRequest},
		{"reserved name", messages.OperatorCreateRequest{Name: messages.SystemOperator, Role: "admin", PublicKey: pub}, messages.CodeBadRequest},
		{"bad role", messages.OperatorCreateRequest{Name: "x", Role: "root", PublicKey: pub}, messages.CodeBadRequest},
		{"seed instead of key", messages.OperatorCreateRequest{Name: "x", Role: "admin", PublicKey: "SUAAAA"}, messages.CodeBadRequest},
		{"key in use", messages.OperatorCreateRequest{Name: "x", Role: "admin", PublicKey: adminKey}, messages.CodeConflict},
		{"name in use", messages.OperatorCreateRequest{Name: "admin", Role: "admin", PublicKey: pub}, messages.CodeConflict},
	} {
		if _, err := admin.CreateOperator(ctx, tc.req); messages.CodeOf(err) != tc.code {
			t.Errorf("%s: got %v, want code %s", tc.name, err, tc.code)
		}
	}
	if _, err := admin.RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: "admin"}); messages.CodeOf(err) != messages.CodeConflict {
		t.Errorf("revoking the last admin: %v", err)
	}
	ct.CreateOperator(t, admin, "second", controller.RoleAdmin)
	if _, err := admin.RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: "admin"}); messages.CodeOf(err) != messages.CodeForbidden {
		t.Errorf("revoking oneself: %v", err)
	}
	if _, err := admin.RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: "nobody"}); messages.CodeOf(err) != messages.CodeNotFound {
		t.Errorf("revoking nobody: %v", err)
	}
	ops, err := admin.ListOperators(ctx)
	if err != nil || len(ops.Operators) != 2 || ops.Operators[0].Name != "admin" || ops.Operators[0].Connections != 1 || ops.Operators[1].Connections != 0 {
		t.Fatalf("list: %+v %v", ops, err)
	}
	// Each successful write is in the audit trail under its operator.
	waitAudit(t, admin, "operator.create by admin", func(r messages.AuditRecord) bool {
		return r.Source == messages.AuditSourceAPI && r.Operator == "admin" && r.Action == "operator.create" && r.Outcome == messages.OutcomeSucceeded
	})
}

// Code that sends commands outside an API call must name who it acts for;
// a bare context cannot sign, and a read-only operator cannot sign writes.
func TestCommandsNeedAnOperatorWithTheRole(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ct.StartAgents(t, c, admin, "web", 1)
	ct.WaitOnline(t, admin, 1)
	req := messages.FleetStatusRequest{Hosts: []string{"web-1"}, TimeoutMs: 2000}
	if _, err := c.FleetStatus(context.Background(), req); err == nil || messages.CodeOf(err) != messages.CodeInternal {
		t.Fatalf("status without an operator: %v", err)
	}
	viewer := controller.Operator{Name: "viewer", Role: controller.RoleReadOnly}
	if _, err := c.FleetStatus(controller.WithOperator(context.Background(), viewer), req); err != nil {
		t.Fatalf("status as a read-only operator: %v", err)
	}
	if _, err := c.RemoveHost(controller.WithOperator(context.Background(), viewer), messages.HostRemoveRequest{Host: "web-1"}); messages.CodeOf(err) != messages.CodeForbidden {
		t.Fatalf("uninstall as a read-only operator: %v", err)
	}
	res, err := c.FleetStatus(controller.WithOperator(context.Background(), controller.SystemOperator), req)
	if err != nil || len(res.Responded) != 1 {
		t.Fatalf("status as the controller itself: %+v %v", res, err)
	}
}

// Stack and component status run as service_status jobs: a read-only
// operator may run a job of a read-only verb, never one that changes a
// host, and the refusal is audited.
func TestReadOnlyOperatorRunsReadJobsOnly(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ct.StartAgents(t, c, admin, "web", 1)
	ct.WaitOnline(t, admin, 1)
	ro, err := ct.ClientAs(t, c, ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q, _ := json.Marshal(messages.ServiceQuery{Component: "hello"})
	rec, err := ro.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbServiceStatus, Hosts: []string{"web-1"}, Payload: q})
	if err != nil {
		t.Fatalf("read-only service_status job: %v", err)
	}
	if rec.Operator != "viewer" {
		t.Fatalf("job recorded for %q, want viewer", rec.Operator)
	}
	spec, _ := json.Marshal(messages.ServiceSpec{Component: "hello", Version: "1.0.0"})
	for _, verb := range []string{messages.VerbServiceApply, messages.VerbServiceRemove, messages.VerbK3sKubeconfig} {
		payload := q
		if verb == messages.VerbServiceApply {
			payload = spec
		}
		_, err := ro.RunJob(ctx, messages.JobRunRequest{Verb: verb, Hosts: []string{"web-1"}, Payload: payload})
		if messages.CodeOf(err) != messages.CodeForbidden {
			t.Errorf("read-only %s job: got %v, want forbidden", verb, err)
		}
	}
	waitAudit(t, admin, "refused service_apply job", func(r messages.AuditRecord) bool {
		return r.Operator == "viewer" && r.Action == "job.run" && r.Code == messages.CodeForbidden
	})
}
