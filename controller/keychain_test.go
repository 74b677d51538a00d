package controller_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// persistentAgent enrolls host, writes its config file and runs it so
// that it persists trust updates there.
func persistentAgent(t *testing.T, c *controller.Controller, id string) (*ct.Agent, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := ct.EnrollConfig(t, ct.Client(t, c), c, id, dir)
	path := ct.WriteAgentConfig(t, cfg, dir)
	return ct.RunAgentWith(t, cfg, ct.AgentOptions{ConfigPath: path}), path
}

func trustedOnDisk(t *testing.T, path string) []string {
	t.Helper()
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.TrustedKeys
}

func TestTrustUpdateSignedByUntrustedKeyIsRefused(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	_, path := persistentAgent(t, c, "web-1")
	ct.WaitOnline(t, admin, 1)
	before, _ := os.ReadFile(path)

	_, rogueKey, _ := ed25519.GenerateKey(rand.Reader)
	rogue := messages.NewSigner(rogueKey)
	env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbTrustUpdate, []string{"web-1"},
		messages.TrustUpdate{Keys: []string{messages.EncodePublicKey(rogue.PublicKey())}})
	env.Operator, env.Role = "admin", controller.RoleAdmin
	rogue.Sign(env)
	if r := commandTo(t, c.InternalConn(), "web-1", env); r.Error == nil || r.Error.Code != messages.CodeUnknownKey {
		t.Fatalf("trust update signed by an untrusted key: %+v", r.Error)
	}
	// A malformed update signed by the trusted key is refused as well,
	// and neither touched the file.
	for name, payload := range map[string]any{
		"empty set":   messages.TrustUpdate{},
		"garbage key": messages.TrustUpdate{Keys: []string{"ed25519:nope"}},
		"duplicate":   messages.TrustUpdate{Keys: []string{c.TrustedKeys()[0], c.TrustedKeys()[0]}},
		"not json":    "[[[[",
	} {
		env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbTrustUpdate, []string{"web-1"}, payload)
		env.Operator, env.Role = "admin", controller.RoleAdmin
		c.Signer().Sign(env)
		if r := commandTo(t, c.InternalConn(), "web-1", env); r.Error == nil || r.Error.Code != messages.CodeBadRequest {
			t.Errorf("%s: %+v", name, r.Error)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatalf("config changed by refused updates:\n%s", after)
	}
	// The rogue key still commands nothing.
	st, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{"web-1"}, nil)
	rogue.Sign(st)
	if r := commandTo(t, c.InternalConn(), "web-1", st); r.Error == nil {
		t.Fatal("rogue key accepted after its trust update was refused")
	}
}

func TestRotateSigningKeyMovesEveryAgentAndRetiresTheOldKey(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ctx := t.Context()
	_, path1 := persistentAgent(t, c, "web-1")
	_, path2 := persistentAgent(t, c, "web-2")
	// web-3 is enrolled but down during the rotation.
	dir3 := t.TempDir()
	cfg3 := ct.EnrollConfig(t, admin, c, "web-3", dir3)
	path3 := ct.WriteAgentConfig(t, cfg3, dir3)
	ct.WaitOnline(t, admin, 2)
	oldSigner := c.Signer()
	oldKey := c.TrustedKeys()[0]

	res, err := admin.RotateSigningKey(ctx, messages.RotateSigningKeyRequest{TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if res.OldKey != oldKey || res.NewKey == oldKey || c.TrustedKeys()[0] != res.NewKey {
		t.Fatalf("keys: %+v, controller now pins %v", res, c.TrustedKeys())
	}
	if !slices.Equal(res.Updated, []string{"web-1", "web-2"}) || len(res.Missing) != 1 || res.Missing[0].Host != "web-3" || res.Expected != 3 {
		t.Fatalf("rotation accounting: %+v", res)
	}
	for _, p := range []string{path1, path2} {
		if got := trustedOnDisk(t, p); !slices.Equal(got, []string{res.NewKey}) {
			t.Fatalf("%s trusts %v on disk, want only the new key", p, got)
		}
	}
	if got := trustedOnDisk(t, path3); !slices.Equal(got, []string{oldKey}) {
		t.Fatalf("offline host's config changed: %v", got)
	}
	// The old key no longer works; the new one does.
	for _, h := range []string{"web-1", "web-2"} {
		env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{h}, nil)
		oldSigner.Sign(env)
		if r := commandTo(t, c.InternalConn(), h, env); r.Error == nil || r.Error.Code != messages.CodeUnknownKey {
			t.Fatalf("%s accepted a command signed by the retired key: %+v", h, r.Error)
		}
	}
	st, err := admin.FleetStatus(ctx, messages.FleetStatusRequest{Hosts: []string{"web-1", "web-2"}, TimeoutMs: 5000})
	if err != nil || len(st.Responded) != 2 || st.Responded[0].Error != nil || st.Responded[1].Error != nil {
		t.Fatalf("status with the new key: %+v %v", st, err)
	}
	info, _ := admin.Info(ctx)
	if !slices.Equal(info.RetiredKeys, []string{oldKey}) {
		t.Fatalf("retired keys: %v", info.RetiredKeys)
	}

	// web-3 comes up trusting only the old key: the controller sees that
	// in its register heartbeat and brings it forward by itself.
	ct.RunAgentWith(t, cfg3, ct.AgentOptions{ConfigPath: path3})
	ct.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if got := trustedOnDisk(t, path3); !slices.Equal(got, []string{res.NewKey}) {
			return fmt.Errorf("web-3 still trusts %v", got)
		}
		return nil
	})
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		st, err := admin.FleetStatus(ctx, messages.FleetStatusRequest{Hosts: []string{"web-3"}, TimeoutMs: 2000})
		if err != nil || len(st.Responded) != 1 || st.Responded[0].Error != nil {
			return fmt.Errorf("web-3 after catch-up: %+v %v", st, err)
		}
		return nil
	})
	// Every trust update is on the record, the catch-up under the
	// controller's own name.
	waitAudit(t, admin, "system trust catch-up", func(r messages.AuditRecord) bool {
		return r.Source == messages.AuditSourceCommand && r.Operator == messages.SystemOperator &&
			r.Verb == messages.VerbTrustUpdate && r.Outcome == messages.OutcomeSucceeded && slices.Equal(r.Targets, []string{"web-3"})
	})
	recs := auditRecords(t, admin, "admin")
	n := 0
	for _, r := range recs {
		if r.Verb == messages.VerbTrustUpdate && r.Outcome == messages.OutcomePartial && strings.HasPrefix(r.Action, "controller.rotate") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("want both rotation phases audited as partial (web-3 missing), got %d:%s", n, summarize(recs))
	}
}

// The signing keys survive a restart: the current key stays current and
// retired keys stay available for catch-ups.
func TestRotatedKeysSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	c := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir })
	admin := ct.Client(t, c)
	res, err := admin.RotateSigningKey(t.Context(), messages.RotateSigningKeyRequest{})
	if err != nil || res.Expected != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	c.Shutdown()
	c2 := ct.StartController(t, func(o *controller.Options) { o.DataDir = dir })
	info, err := ct.Client(t, c2).Info(t.Context())
	if err != nil || !slices.Equal(info.TrustedKeys, []string{res.NewKey}) || !slices.Equal(info.RetiredKeys, []string{res.OldKey}) {
		t.Fatalf("after restart: %+v %v", info, err)
	}
	st, err := os.Stat(dir + "/" + controller.RetiredKeysDir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("retired keys directory: %v %v", st, err)
	}
}
