package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// host remove: the agent gets the SSH user and Foundry's key line to take
// out of authorized_keys, reports what it removed, and is stopped (by
// systemd on a real host, here a moment after its reply); the controller
// revokes its credentials only once its connection closed, so the agent
// never logs refused credentials on its way out, and the result says all
// of that.
func TestRemoveHostRevokesOnceTheAgentStopped(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	dir := t.TempDir()
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	nk := filepath.Join(dir, "web-1.nk")
	os.WriteFile(nk, seed, 0o600)
	res, err := cl.Enroll(context.Background(), messages.EnrollRequest{Host: "web-1", PublicKey: pub, Address: "192.0.2.10", SSHUser: "admin", SSHPort: 22})
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{ID: "web-1", URLs: res.URLs, NKeyFile: nk, TrustedKeys: res.TrustedKeys, Heartbeat: 200 * time.Millisecond,
		CAFile: filepath.Join(dir, "ca.pem")}
	os.WriteFile(cfg.CAFile, []byte(res.CAPEM), 0o644)

	var (
		mu      sync.Mutex
		gotArgs messages.UninstallArgs
		running atomic.Pointer[ct.Agent] // set once the agent runs, read by its uninstall
		stopped = make(chan struct{})
	)
	logs := &ct.LogBuffer{}
	ta := ct.RunAgentWith(t, cfg, ct.AgentOptions{Logger: logs.Logger(),
		Uninstall: func(_ context.Context, a messages.UninstallArgs) (messages.UninstallReply, error) {
			mu.Lock()
			gotArgs = a
			mu.Unlock()
			// What systemd does on a host: stop the agent shortly after
			// it replied (agentunit.StopDelay).
			time.AfterFunc(300*time.Millisecond, func() { running.Load().Stop(); close(stopped) })
			return messages.UninstallReply{Removed: []string{"/usr/local/bin/foundry-agent", "/etc/foundry"}, KeyRemoved: true}, nil
		}})
	running.Store(ta)
	ct.WaitOnline(t, cl, 1)

	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmWc0ZQq3jFz5mS2p3bZC4pN7LwG5Q1hY8s2gkq9f0e foundry"
	rr, err := cl.RemoveHost(context.Background(), messages.HostRemoveRequest{Host: "web-1", AuthorizedKey: key})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Error("RemoveHost returned before the agent stopped")
	}
	if !rr.AgentUninstalled || !rr.AgentStopped || !rr.KeyRemoved || rr.Revoked != 1 ||
		!slices.Equal(rr.AgentRemoved, []string{"/usr/local/bin/foundry-agent", "/etc/foundry"}) {
		t.Errorf("result %+v", rr)
	}
	mu.Lock()
	if gotArgs.SSHUser != "admin" || gotArgs.AuthorizedKey != key {
		t.Errorf("agent got %+v", gotArgs)
	}
	mu.Unlock()
	if l := strings.ToLower(logs.String()); strings.Contains(l, "authorization") {
		t.Errorf("the agent met refused credentials on its way out:\n%s", logs.String())
	}
	// And the credentials are refused now.
	hl, err := cl.HostList(context.Background())
	if err != nil || len(hl.Hosts) != 0 {
		t.Fatalf("host list after remove: %+v %v", hl.Hosts, err)
	}
}
