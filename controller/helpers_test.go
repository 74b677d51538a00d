package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
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

// keyPair reads an NKey seed file.
func keyPair(t *testing.T, seedFile string) nkeys.KeyPair {
	t.Helper()
	b, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// signedMsg builds an API request to subject signed with kp, the way the
// client package does, so tests can send it over any connection and
// tamper with it first.
func signedMsg(t *testing.T, kp nkeys.KeyPair, subject string, body []byte) *nats.Msg {
	t.Helper()
	pub, _ := kp.PublicKey()
	a, err := messages.SignAPI(subject, body, pub, time.Now(), kp.Sign)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data = body
	for k, v := range a.Headers() {
		m.Header.Set(k, v)
	}
	return m
}

// requestAsOperator sends m with a reply under the inbox of the operator
// it claims to be from (the controller answers nowhere else), or, when it
// claims none, under nc's own inbox if that is an operator's, else under
// a stranger's.
func requestAsOperator(nc *nats.Conn, m *nats.Msg) (*nats.Msg, error) {
	key := m.Header.Get(messages.HeaderOperator)
	if key == "" {
		rest, _ := strings.CutPrefix(nc.NewRespInbox(), "_INBOX_")
		key, _, _ = strings.Cut(rest, ".")
	}
	if !nkeys.IsValidPublicUserKey(key) {
		kp, _ := nkeys.CreateUser()
		key, _ = kp.PublicKey()
	}
	sub, err := nc.SubscribeSync(controller.OperatorInbox(key) + "." + nats.NewInbox()[len(nats.InboxPrefix):])
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	m.Reply = sub.Subject
	if err := nc.PublishMsg(m); err != nil {
		return nil, err
	}
	return sub.NextMsg(10 * time.Second)
}

// apiError sends m over nc and returns the API error in the answer (nil
// for success).
func apiError(t *testing.T, nc *nats.Conn, m *nats.Msg) *messages.Error {
	t.Helper()
	r, err := requestAsOperator(nc, m)
	if err != nil {
		t.Fatalf("request %s: %v", m.Subject, err)
	}
	var resp messages.APIResponse[json.RawMessage]
	if err := json.Unmarshal(r.Data, &resp); err != nil {
		t.Fatalf("answer to %s is not an API response: %q", m.Subject, r.Data)
	}
	return resp.Error
}

// auditRecords returns every audit record of the last hour.
func auditRecords(t *testing.T, cl *client.Client, operator string) []messages.AuditRecord {
	t.Helper()
	var out []messages.AuditRecord
	err := cl.Audit(context.Background(), client.AuditQuery{Operator: operator, Since: time.Hour},
		func(r messages.AuditRecord) error { out = append(out, r); return nil })
	if err != nil {
		t.Fatalf("read audit: %v", err)
	}
	return out
}

// waitAudit polls the audit trail until a record matches.
func waitAudit(t *testing.T, cl *client.Client, what string, match func(messages.AuditRecord) bool) messages.AuditRecord {
	t.Helper()
	var found messages.AuditRecord
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		recs := auditRecords(t, cl, "")
		for _, r := range recs {
			if match(r) {
				found = r
				return nil
			}
		}
		return fmt.Errorf("no audit record for %s among %d: %s", what, len(recs), summarize(recs))
	})
	return found
}

func summarize(recs []messages.AuditRecord) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "\n  %s/%s %s %s %s %s", r.Source, r.Operator, r.Action, r.Verb, r.Outcome, r.Code)
	}
	return b.String()
}

// commandTo sends env to host over nc (an attacker's or the controller's
// raw connection) and returns the agent's reply.
func commandTo(t *testing.T, nc *nats.Conn, host string, env *messages.Envelope) messages.Reply {
	t.Helper()
	b, _ := json.Marshal(env)
	subj, _ := messages.CommandSubject(host)
	m, err := nc.Request(subj, b, 5*time.Second)
	if err != nil {
		t.Fatalf("command to %s: %v", host, err)
	}
	r, err := messages.DecodeReply(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
