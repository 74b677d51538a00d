package agent_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// A job re-sends a step to a host that comes back, and the host may be
// running a new agent process by then. A change command the first
// process accepted is refused as a replay by the next one, with the first
// outcome, so it never runs twice across a restart.
func TestAgentRestartDoesNotRunAnAcceptedCommandAgain(t *testing.T) {
	srv := ct.StartNATS(t, func(o *server.Options) { o.AlwaysEnableNonce = true })
	cfg, signer := plainAgent(t, "again-1", srv.ClientURL())
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subj, _ := messages.CommandSubject("again-1")
	state := t.TempDir()

	env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbLiveness, []string{"again-1"},
		messages.Liveness{HeartbeatMs: 150, ReconnectSpreadMs: 0})
	env.Operator, env.Role = "admin", messages.RoleAdmin
	signer.Sign(env)
	cmd, _ := json.Marshal(env)

	first := ct.RunAgentWith(t, cfg, ct.AgentOptions{StateDir: state})
	waitServing(t, nc, subj)
	if r := request(t, nc, subj, cmd); r.Error != nil {
		t.Fatalf("first run: %v", r.Error)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	ct.RunAgentWith(t, cfg, ct.AgentOptions{StateDir: state})
	waitServing(t, nc, subj)
	r := request(t, nc, subj, cmd)
	if r.Error == nil || r.Error.Code != messages.CodeReplayed {
		t.Fatalf("the restarted agent ran the command again: %+v", r)
	}
	if r.Previous == nil || r.Previous.Error != nil || len(r.Previous.Payload) == 0 {
		t.Fatalf("the replay does not tell the first outcome: %+v", r.Previous)
	}
}

// waitServing waits until an agent answers on subj (any answer).
func waitServing(t *testing.T, nc *nats.Conn, subj string) {
	t.Helper()
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, err := nc.Request(subj, []byte("x"), 200*time.Millisecond)
		return err
	})
}
