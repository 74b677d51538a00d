package agent_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/agent"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func send(t *testing.T, nc *nats.Conn, s *messages.Signer, verb, role string, payload any) messages.Reply {
	t.Helper()
	env, err := messages.NewEnvelope(time.Now(), time.Minute, "controller", verb, []string{"web-1"}, payload)
	if err != nil {
		t.Fatal(err)
	}
	env.Operator, env.Role = "alice", role
	s.Sign(env)
	b, _ := json.Marshal(env)
	subj, _ := messages.CommandSubject("web-1")
	return request(t, nc, subj, b)
}

func newSigner(t *testing.T) *messages.Signer {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return messages.NewSigner(k)
}

func TestTrustUpdatePersistsAtomicallyThenSwitchesKeys(t *testing.T) {
	srv := ct.StartNATS(t, func(o *server.Options) { o.AlwaysEnableNonce = true })
	cfg, k1 := plainAgent(t, "web-1", srv.ClientURL())
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	b, _ := agent.RenderConfig(cfg)
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	ct.RunAgentWith(t, cfg, ct.AgentOptions{ConfigPath: path})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hbs := make(chan messages.Heartbeat, 64)
	nc.Subscribe(messages.HeartbeatWildcard, func(m *nats.Msg) {
		if hb, err := messages.DecodeHeartbeat(m.Data); err == nil {
			hbs <- hb
		}
	})
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		_, err := nc.Request("foundry.cmd.web-1", []byte("x"), 200*time.Millisecond)
		return err
	})
	k2 := newSigner(t)
	k2Text := messages.EncodePublicKey(k2.PublicKey())

	// A read-only operator may not change trust, even with a good signature.
	if r := send(t, nc, k1, messages.VerbTrustUpdate, messages.RoleReadOnly, messages.TrustUpdate{Keys: []string{k2Text}}); r.Error == nil || r.Error.Code != messages.CodeForbidden {
		t.Fatalf("read-only trust update: %+v", r.Error)
	}
	r := send(t, nc, k1, messages.VerbTrustUpdate, messages.RoleAdmin, messages.TrustUpdate{Keys: []string{k2Text}})
	if r.Error != nil {
		t.Fatalf("trust update refused: %v", r.Error)
	}
	var rep messages.TrustUpdateReply
	if err := json.Unmarshal(r.Payload, &rep); err != nil || !rep.Persisted || !slices.Equal(rep.KeyIDs, []string{messages.KeyID(k2.PublicKey())}) {
		t.Fatalf("reply %+v %v", rep, err)
	}
	got, err := agent.LoadConfig(path)
	if err != nil || !slices.Equal(got.TrustedKeys, []string{k2Text}) || got.ID != "web-1" || got.NKeyFile != cfg.NKeyFile {
		t.Fatalf("config on disk: %+v %v", got, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode changed to %v", st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if r := send(t, nc, k1, messages.VerbStatus, messages.RoleAdmin, nil); r.Error == nil || r.Error.Code != messages.CodeUnknownKey {
		t.Fatalf("old key after the update: %+v", r.Error)
	}
	if r := send(t, nc, k2, messages.VerbStatus, messages.RoleAdmin, nil); r.Error != nil {
		t.Fatalf("new key refused: %v", r.Error)
	}
	// Heartbeats report the new trust, so a controller can see it.
	ct.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		select {
		case hb := <-hbs:
			if slices.Equal(hb.Trust, []string{messages.KeyID(k2.PublicKey())}) {
				return nil
			}
			return os.ErrNotExist
		default:
			return os.ErrNotExist
		}
	})
}

func TestTrustUpdateRefusedWhenItCannotBePersisted(t *testing.T) {
	srv := ct.StartNATS(t, func(o *server.Options) { o.AlwaysEnableNonce = true })
	cfg, k1 := plainAgent(t, "web-1", srv.ClientURL())
	other := cfg
	other.ID = "web-9"
	path := filepath.Join(t.TempDir(), "agent.yaml")
	b, _ := agent.RenderConfig(other) // the file describes another host
	os.WriteFile(path, b, 0o644)
	ct.RunAgentWith(t, cfg, ct.AgentOptions{ConfigPath: path})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		_, err := nc.Request("foundry.cmd.web-1", []byte("x"), 200*time.Millisecond)
		return err
	})
	k2 := newSigner(t)
	r := send(t, nc, k1, messages.VerbTrustUpdate, messages.RoleAdmin, messages.TrustUpdate{Keys: []string{messages.EncodePublicKey(k2.PublicKey())}})
	if r.Error == nil {
		t.Fatal("trust update accepted although the config file could not take it")
	}
	// Nothing changed: the old key still works, the new one does not.
	if r := send(t, nc, k1, messages.VerbStatus, messages.RoleAdmin, nil); r.Error != nil {
		t.Fatalf("old key refused after a failed update: %v", r.Error)
	}
	if r := send(t, nc, k2, messages.VerbStatus, messages.RoleAdmin, nil); r.Error == nil {
		t.Fatal("new key trusted although the update failed")
	}
}
