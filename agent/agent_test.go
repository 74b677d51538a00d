package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// plainAgent returns a config for an agent talking to a plain NATS server
// at url, trusting a fresh signing key that the test holds.
func plainAgent(t *testing.T, id, url string) (agent.Config, *messages.Signer) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	nk := filepath.Join(t.TempDir(), "agent.nk")
	if err := os.WriteFile(nk, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	s := messages.NewSigner(key)
	return agent.Config{ID: id, URLs: []string{url}, NKeyFile: nk, Heartbeat: 100 * time.Millisecond,
		TrustedKeys: []string{messages.EncodePublicKey(s.PublicKey())}}, s
}

// runPlainAgent runs agent id against a plain NATS server (large
// payloads allowed, so oversized input reaches the agent) and returns a
// connection to that server and the key the agent trusts.
func runPlainAgent(t *testing.T, id string) (*nats.Conn, *messages.Signer) {
	t.Helper()
	srv := ct.StartNATS(t, func(o *server.Options) { o.MaxPayload = 4 << 20; o.AlwaysEnableNonce = true })
	cfg, signer := plainAgent(t, id, srv.ClientURL())
	ct.RunAgent(t, cfg)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, signer
}

func request(t *testing.T, nc *nats.Conn, subject string, data []byte) messages.Reply {
	t.Helper()
	m, err := nc.Request(subject, data, 5*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	r, err := messages.DecodeReply(m.Data)
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	return r
}

func TestAgentRefusesGarbageAndKeepsServing(t *testing.T) {
	nc, signer := runPlainAgent(t, "web-1")
	subj, _ := messages.CommandSubject("web-1")
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if _, err := nc.Request(subj, []byte("x"), 200*time.Millisecond); err != nil {
			return err
		}
		return nil
	})

	inputs := map[string][]byte{
		"garbage":   {0xde, 0xad, 0xbe, 0xef},
		"empty":     {},
		"oversized": []byte(`{"v":1,"id":"` + strings.Repeat("a", 2<<20) + `"}`),
		"deep json": []byte(strings.Repeat(`{"a":`, 50000) + "1" + strings.Repeat("}", 50000)),
		"not json":  []byte("status please"),
		"no verb":   []byte(`{"v":1,"id":"abc"}`),
	}
	for name, in := range inputs {
		r := request(t, nc, subj, in)
		if r.Error == nil || len(r.Payload) != 0 {
			t.Errorf("%s: not refused: %+v", name, r)
		}
	}
	// Still alive and serving a valid command.
	env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{"web-1"}, nil)
	signer.Sign(env)
	b, _ := json.Marshal(env)
	r := request(t, nc, subj, b)
	if r.Error != nil {
		t.Fatalf("valid command after garbage: %v", r.Error)
	}
	st, err := messages.DecodeStatusReply(r.Payload)
	if err != nil || st.Hostname != "web-1" {
		t.Fatalf("status payload: %+v %v", st, err)
	}
	// An unknown verb, properly signed, is refused too.
	env, _ = messages.NewEnvelope(time.Now(), time.Minute, "controller", "reformat-disk", []string{"web-1"}, nil)
	signer.Sign(env)
	b, _ = json.Marshal(env)
	if r := request(t, nc, subj, b); r.Error == nil || r.Error.Code != messages.CodeUnknownVerb {
		t.Fatalf("unknown verb: %+v", r.Error)
	}
}

func TestAgentWaitsForControllerThatIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg, _ := plainAgent(t, "late-1", fmt.Sprintf("nats://127.0.0.1:%d", port))
	a := ct.RunAgent(t, cfg)

	srv := ct.StartNATS(t, func(o *server.Options) { o.Port = port; o.AlwaysEnableNonce = true })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan string, 16)
	if _, err := nc.Subscribe(messages.HeartbeatWildcard, func(m *nats.Msg) { got <- m.Subject }); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "foundry.hb.late-1" {
			t.Fatalf("heartbeat on %s", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent never connected once the controller came up")
	}
	if err := a.Stop(); err != nil {
		t.Fatalf("clean stop returned %v", err)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	cfg, _ := plainAgent(t, "web-1", "nats://127.0.0.1:1")
	if _, err := agent.New(agent.Options{Config: cfg}); err == nil {
		t.Error("agent without facts source accepted")
	}
	loose := cfg
	loose.NKeyFile = filepath.Join(t.TempDir(), "loose.nk")
	os.WriteFile(loose.NKeyFile, []byte("SUAAAA"), 0o644)
	a, err := agent.New(agent.Options{Config: loose, Facts: ct.Facts("web-1")})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable seed: %v", err)
	}
}

// A broadcast command is answered on the reply subject plus the agent's
// own id (the subject the controller's permissions tie to the host); a
// broadcast whose reply subject is not under the reply prefix gets no
// answer at all, and a brief status carries no payload.
func TestAgentAnswersBroadcastOnItsOwnReplySubject(t *testing.T) {
	nc, signer := runPlainAgent(t, "web-1")
	replies, err := nc.SubscribeSync(messages.ReplyPrefix + ".>")
	if err != nil {
		t.Fatal(err)
	}
	signed := func(payload any) []byte {
		env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{messages.TargetAll}, payload)
		signer.Sign(env)
		b, _ := json.Marshal(env)
		return b
	}
	next := func(reply string) *nats.Msg {
		t.Helper()
		for {
			m, err := replies.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("no message on %s.>: %v", reply, err)
			}
			if strings.HasPrefix(m.Subject, reply) {
				return m
			}
		}
	}
	// The agent subscribes after it connects; wait until it answers.
	ct.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if err := nc.PublishRequest(messages.BroadcastSubject(), messages.ReplyPrefix+".n1", signed(messages.StatusRequest{})); err != nil {
			return err
		}
		_, err := replies.NextMsg(100 * time.Millisecond)
		return err
	})

	reply := messages.ReplyPrefix + ".n2"
	if err := nc.PublishRequest(messages.BroadcastSubject(), reply, signed(messages.StatusRequest{})); err != nil {
		t.Fatal(err)
	}
	m := next(reply)
	if m.Subject != reply+".web-1" {
		t.Fatalf("broadcast answered on %q, want %q", m.Subject, reply+".web-1")
	}
	r, err := messages.DecodeReply(m.Data)
	if err != nil || r.Error != nil || len(r.Payload) == 0 {
		t.Fatalf("full status reply: %+v %v", r, err)
	}

	reply = messages.ReplyPrefix + ".n3"
	if err := nc.PublishRequest(messages.BroadcastSubject(), reply, signed(messages.StatusRequest{Brief: true})); err != nil {
		t.Fatal(err)
	}
	if r, err = messages.DecodeReply(next(reply).Data); err != nil || r.Error != nil || len(r.Payload) != 0 {
		t.Fatalf("brief status reply: %+v %v", r, err)
	}

	// A reply subject outside the prefix is not answered; the next valid
	// broadcast still is, and the agent handles commands in order, so the
	// first one was dropped, not delayed.
	elsewhere, err := nc.SubscribeSync("_INBOX.elsewhere.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest(messages.BroadcastSubject(), "_INBOX.elsewhere", signed(messages.StatusRequest{})); err != nil {
		t.Fatal(err)
	}
	reply = messages.ReplyPrefix + ".n4"
	if err := nc.PublishRequest(messages.BroadcastSubject(), reply, signed(messages.StatusRequest{})); err != nil {
		t.Fatal(err)
	}
	next(reply)
	if m, err := elsewhere.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("answered a broadcast on %q", m.Subject)
	}
}

// Artifact fetches take turns on their own connection: a second waits
// until the first connection is closed (service operations run in
// parallel, and each connection counts against the identity's limit).
func TestArtifactFetchesTakeTurns(t *testing.T) {
	srv := ct.StartNATS(t, func(o *server.Options) { o.AlwaysEnableNonce = true })
	cfg, _ := plainAgent(t, "web-1", srv.ClientURL())
	a, err := agent.New(agent.Options{Config: cfg, Facts: ct.Facts(cfg.ID)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.DialFetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if name := first.Opts.Name; name != messages.AgentFetchConnName("web-1") {
		t.Fatalf("fetch connection named %q", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, err := a.DialFetch(ctx); err == nil || !strings.Contains(err.Error(), "another artifact fetch") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a second fetch connection while the first is open: %v", err)
	}
	first.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	second, err := a.DialFetch(ctx2)
	if err != nil {
		t.Fatalf("the next fetch after the first closed: %v", err)
	}
	second.Close()
}
