package controller_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/messages"
)

// canaries returns every text form a secret file's content could leak in:
// the file as is, and for PEM files the key bytes in base64 and hex.
func canaries(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{strings.TrimSpace(string(b))}
	if blk, _ := pem.Decode(b); blk != nil {
		out = append(out, base64.StdEncoding.EncodeToString(blk.Bytes), base64.RawURLEncoding.EncodeToString(blk.Bytes),
			hex.EncodeToString(blk.Bytes))
		// A line of the PEM body is enough to identify a key.
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
	}
	return out
}

// Secrets never appear in logs (controller's, NATS's, agents'), events,
// audit records or API responses, through every flow that handles them:
// enrolment, operator creation, refusals, revocation, key and certificate
// rotation.
func TestNoSecretInLogsEventsAuditOrAPIResponses(t *testing.T) {
	ctlLogs := &ct.LogBuffer{}
	c := ct.StartController(t, func(o *controller.Options) { o.Logger = ctlLogs.Logger() })
	admin := ct.Client(t, c)
	ctx := context.Background()
	agentLogs := &ct.LogBuffer{}
	var seeds []string
	for _, id := range []string{"web-1", "web-2"} {
		cfg := ct.EnrollConfig(t, admin, c, id, t.TempDir())
		seeds = append(seeds, cfg.NKeyFile)
		ct.RunAgentWith(t, cfg, ct.AgentOptions{Logger: agentLogs.Logger()})
	}
	ct.WaitOnline(t, admin, 2)
	roCreds := ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly)
	bobCreds := ct.CreateOperator(t, admin, "bob", controller.RoleAdmin)
	ro, err := ct.ClientAs(t, c, roCreds)
	if err != nil {
		t.Fatal(err)
	}

	var responses []any
	keep := func(v any, err error) {
		t.Helper()
		if err != nil {
			responses = append(responses, err.Error())
		}
		responses = append(responses, v)
	}
	keep(admin.HostList(ctx))
	keep(admin.Info(ctx))
	keep(admin.ListOperators(ctx))
	keep(admin.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 5000}))
	keep(ro.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 5000}))
	keep(ro.RemoveHost(ctx, messages.HostRemoveRequest{Host: "web-1"}))
	keep(admin.RotateCerts(ctx))
	oldSigning := filepath.Join(t.TempDir(), "old-signing.key")
	if b, err := os.ReadFile(filepath.Join(dataDir(c), controller.SigningKeyFile)); err == nil {
		_ = os.WriteFile(oldSigning, b, 0o600)
	}
	keep(admin.RotateSigningKey(ctx, messages.RotateSigningKeyRequest{TimeoutMs: 5000}))
	keep(admin.RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: "bob"}))
	forged := signedMsg(t, keyPair(t, bobCreds), messages.APIHostList, []byte(`{}`))
	keep(apiError(t, c.InternalConn(), forged), nil)
	env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbUninstall, []string{"web-1"}, nil)
	env.Operator, env.Role = "viewer", controller.RoleReadOnly
	c.Signer().Sign(env)
	keep(commandTo(t, c.InternalConn(), "web-1", env), nil)
	waitAudit(t, admin, "agent refusal", func(r messages.AuditRecord) bool {
		return r.RequestID == env.ID && r.Source == messages.AuditSourceAgent
	})

	var secrets []string
	for _, p := range append(seeds, c.AdminCredsPath(), roCreds, bobCreds, oldSigning,
		filepath.Join(dataDir(c), controller.SigningKeyFile), filepath.Join(dataDir(c), pki.CAKeyFile),
		filepath.Join(dataDir(c), pki.KeyFile)) {
		secrets = append(secrets, canaries(t, p)...)
	}

	haystacks := map[string]string{"controller log": ctlLogs.String(), "agent log": agentLogs.String()}
	for name, stream := range map[string]string{"events": controller.EventsStream, "audit": messages.AuditStream} {
		haystacks[name] = rawStream(t, c, stream)
	}
	b, _ := json.Marshal(responses)
	haystacks["API responses"] = string(b)
	for name, h := range haystacks {
		if len(h) < 200 {
			t.Fatalf("%s is suspiciously empty (%d bytes); the test would prove nothing", name, len(h))
		}
		for i, s := range secrets {
			if strings.Contains(h, s) {
				t.Errorf("secret canary #%d (%d chars) appears in the %s", i, len(s), name)
			}
		}
	}
}

// rawStream returns every message in stream as stored, concatenated.
func rawStream(t *testing.T, c *controller.Controller, stream string) string {
	t.Helper()
	js, err := jetstream.New(c.InternalConn())
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(t.Context(), stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for n := cons.CachedInfo().NumPending; n > 0; {
		batch, err := cons.Fetch(int(min(n, 500)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := uint64(0)
		for m := range batch.Messages() {
			got++
			b.Write(m.Data())
			b.WriteByte('\n')
		}
		if got == 0 {
			break
		}
		n -= min(got, n)
	}
	return b.String()
}
