package controller_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// hostile are inputs that have crashed or stalled JSON services before.
func hostile() map[string][]byte {
	return map[string][]byte{
		"empty":        {},
		"binary":       {0x00, 0xff, 0xfe, 0x13, 0x37},
		"not json":     []byte("status please"),
		"truncated":    []byte(`{"hosts":["a"`),
		"deep array":   []byte(strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20)),
		"deep object":  []byte(strings.Repeat(`{"a":`, 200000) + "1" + strings.Repeat("}", 200000)),
		"oversized":    []byte(`{"x":"` + strings.Repeat("A", 7<<20) + `"}`),
		"wrong types":  []byte(`{"hosts":{"a":1},"timeout_ms":"soon","name":[1],"role":{},"public_key":7,"keys":"x"}`),
		"huge numbers": []byte(`{"timeout_ms":1e400,"ssh_port":-99999999999999999999}`),
		"null":         []byte(`null`),
	}
}

// Every subject the controller listens on gets hostile input, from an
// operator (API), with and without a valid signature, and from an agent
// (heartbeats, refusal events). Nothing panics (a panic in a handler
// would end the test binary), each API call gets an error answer, and the
// controller serves normally afterwards.
func TestHostileInputOnEverySubjectTheControllerHears(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	kp := keyPair(t, c.AdminCredsPath())
	nc := admin.Conn()

	// The API subjects come from the running service itself, so an
	// endpoint added later is covered without editing this test.
	m, err := c.InternalConn().Request("$SRV.INFO.foundry-controller", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(m.Data, &info); err != nil || len(info.Endpoints) < 10 {
		t.Fatalf("service info: %v %d endpoints", err, len(info.Endpoints))
	}
	for _, ep := range info.Endpoints {
		for name, in := range hostile() {
			for _, signed := range []bool{false, true} {
				msg := nats.NewMsg(ep.Subject)
				msg.Data = in
				if signed {
					msg = signedMsg(t, kp, ep.Subject, in)
				}
				// apiError fails the test unless an API answer comes back.
				// Unsigned input is always refused; signed input may be a
				// valid request (an empty body for a verb without
				// arguments), so only an answer is required.
				if e := apiError(t, nc, msg); e == nil && !signed {
					t.Errorf("%s got unsigned %s and did not refuse it", ep.Subject, name)
				}
			}
		}
	}

	// Agent-side subjects: heartbeats and refusal events, from a real
	// agent identity (the only kind that may publish there).
	cfg1 := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	a1, err := connectAs(t, c, cfg1.NKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// The server tells a connection its own limits in an INFO right
	// after the connect; a round trip makes sure the client read it.
	if err := a1.Flush(); err != nil {
		t.Fatal(err)
	}
	hb, _ := messages.HeartbeatSubject("web-1")
	refused, _ := messages.EventSubject("web-1", messages.EventCmdRefused)
	manyIDs := make([]string, 2000)
	for i := range manyIDs {
		manyIDs[i] = fmt.Sprintf("k%d", i)
	}
	trustFlood, _ := json.Marshal(messages.Heartbeat{V: 1, Kind: messages.KindRegister, Trust: manyIDs[:900]})
	bigFields := map[string]string{"code": strings.Repeat("c", 4000), "operator": strings.Repeat("o", 4000), "verb": strings.Repeat("v", 4000)}
	bigEvent, _ := json.Marshal(messages.Event{V: 1, Type: messages.EventCmdRefused, RequestID: strings.Repeat("r", 3000), Fields: bigFields})
	for name, in := range hostile() {
		if len(in) > messages.MaxAgentPublishBytes {
			// Over an agent's limit: refused before it leaves (the
			// server's own refusal is in
			// TestAgentCredentialHasPerConnectionPayloadAndSubscriptionLimits).
			if err := a1.Publish(hb, in); !errors.Is(err, nats.ErrMaxPayload) {
				t.Fatalf("heartbeat %s of %d bytes: %v, want %v", name, len(in), err, nats.ErrMaxPayload)
			}
			continue
		}
		if err := a1.Publish(hb, in); err != nil {
			t.Fatalf("heartbeat %s: %v", name, err)
		}
		if err := a1.Publish(refused, in); err != nil {
			t.Fatalf("event %s: %v", name, err)
		}
	}
	for _, in := range [][]byte{trustFlood, bigEvent} {
		_ = a1.Publish(hb, in)
		_ = a1.Publish(refused, in)
	}
	// A flood of refusal events is bounded in the audit trail.
	for range 500 {
		_ = a1.Publish(refused, []byte(`{"v":1,"type":"cmd_refused","message":"flood","fields":{"code":"expired"}}`))
	}
	if err := a1.Flush(); err != nil {
		t.Fatal(err)
	}
	// A sentinel from another host, after the flood: once it is in the
	// trail, everything before it has been handled.
	cfg2 := ct.EnrollConfig(t, admin, c, "web-2", t.TempDir())
	a2, err := connectAs(t, c, cfg2.NKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	sentinel, _ := messages.EventSubject("web-2", messages.EventCmdRefused)
	_ = a2.Publish(sentinel, []byte(`{"v":1,"type":"cmd_refused","request_id":"sentinel","fields":{"code":"expired"}}`))
	waitAudit(t, admin, "sentinel", func(r messages.AuditRecord) bool { return r.RequestID == "sentinel" })
	n := 0
	for _, r := range auditRecords(t, admin, "") {
		if r.Host == "web-1" && r.Source == messages.AuditSourceAgent {
			n++
			if len(r.Code) > 32 || len(r.Verb) > 64 || len(r.RequestID) > 64 || len(r.Message) > 600 {
				t.Fatalf("agent-supplied fields not bounded: %d %d %d %d", len(r.Code), len(r.Verb), len(r.RequestID), len(r.Message))
			}
		}
	}
	if n == 0 || n > 60 {
		t.Fatalf("%d audit records from web-1's ~520 refusal events; want between 1 and 60", n)
	}

	// Still serving: the registry holds what real heartbeats say, the API
	// answers, and a real agent registers and answers a status.
	ct.RunAgent(t, ct.EnrollConfig(t, admin, c, "web-3", t.TempDir()))
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := admin.FleetStatus(t.Context(), messages.FleetStatusRequest{Hosts: []string{"web-3"}, TimeoutMs: 2000})
		if err != nil || len(st.Responded) != 1 || st.Responded[0].Error != nil {
			return fmt.Errorf("controller not serving after hostile input: %+v %v", st, err)
		}
		return nil
	})
	hl, err := admin.HostList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hl.Hosts {
		if len(h.TrustedKeyIDs) > messages.MaxTrustedKeys {
			t.Fatalf("%s: heartbeat trust list not bounded: %d ids", h.ID, len(h.TrustedKeyIDs))
		}
	}
}
