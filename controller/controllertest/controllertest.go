// Package controllertest starts real NATS servers, controllers and agents
// in-process for tests in any package. Nothing here is a mock: the server
// is nats-server, the agents are the real agent code with facts from a
// fixed table instead of the host.
package controllertest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// StartNATS runs a plain nats-server on a random loopback port.
func StartNATS(t testing.TB, mutate ...func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	for _, m := range mutate {
		m(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// StartController runs a controller with TLS on a random port and a fresh
// data directory.
func StartController(t testing.TB, mutate ...func(*controller.Options)) *controller.Controller {
	t.Helper()
	opts := controller.Options{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "controller"),
		SweepInterval: 100 * time.Millisecond, Version: "test",
		// Test agents heartbeat every 200ms; keep the controller from
		// slowing them to the production 10s.
		HeartbeatBase: 200 * time.Millisecond}
	for _, m := range mutate {
		m(&opts)
	}
	c, err := controller.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start controller: %v", err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// Client connects as the bootstrap admin operator.
func Client(t testing.TB, c *controller.Controller) *client.Client {
	t.Helper()
	return ClientWithCreds(t, c, c.AdminCredsPath())
}

// ClientWithCreds connects as the operator whose credentials file is creds.
func ClientWithCreds(t testing.TB, c *controller.Controller, creds string) *client.Client {
	t.Helper()
	cl, err := client.Connect(context.Background(), client.Options{
		URL: c.URLs()[0], CredsFile: creds, CAFile: WriteCA(t, c)})
	if err != nil {
		t.Fatalf("connect client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// WriteCA writes the controller's CA to a temp file and returns its path
// ("" for a plaintext controller).
func WriteCA(t testing.TB, c *controller.Controller) string {
	t.Helper()
	if len(c.CAPEM()) == 0 {
		return ""
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, c.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Agent is an in-process agent under test.
type Agent struct {
	ID     string
	Agent  *agent.Agent
	Config agent.Config
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Stop stops the agent cleanly (goodbye) and waits for it.
func (a *Agent) Stop() error { a.cancel(); <-a.done; return a.err }

// Kill stops the agent like a crash (no goodbye) and waits for it.
func (a *Agent) Kill() error { a.Agent.Abort(); <-a.done; return a.err }

// Facts returns a fixed fact table for host id; real agents read the host.
func Facts(id string) func(context.Context) messages.Facts {
	return func(context.Context) messages.Facts {
		return messages.Facts{Hostname: id, MachineID: fmt.Sprintf("%032x", len(id)) + id, OS: "debian",
			OSVersion: "12", Kernel: "6.1.0", Arch: "amd64", CPUs: 2, MemTotal: 8 << 30, AgentVersion: "test"}
	}
}

// EnrollConfig enrolls a new agent identity for id with the controller and
// returns a ready config whose seed file lives in dir.
func EnrollConfig(t testing.TB, cl *client.Client, c *controller.Controller, id, dir string) agent.Config {
	t.Helper()
	return EnrollConfigWith(t, cl, c, messages.EnrollRequest{Host: id}, dir)
}

// EnrollConfigWith is EnrollConfig with the rest of the request (the
// operator-assigned role and labels, as host add sends them); the
// returned config carries the same role and labels, as host add writes
// them.
func EnrollConfigWith(t testing.TB, cl *client.Client, c *controller.Controller, req messages.EnrollRequest, dir string) agent.Config {
	t.Helper()
	id := req.Host
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	nk := filepath.Join(dir, id+".nk")
	if err := os.WriteFile(nk, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	req.PublicKey = pub
	res, err := cl.Enroll(context.Background(), req)
	if err != nil {
		t.Fatalf("enroll %s: %v", id, err)
	}
	cfg := agent.Config{ID: id, URLs: res.URLs, NKeyFile: nk, TrustedKeys: res.TrustedKeys, Heartbeat: 200 * time.Millisecond,
		Role: req.Role, Labels: req.Labels}
	if res.CAPEM != "" {
		cfg.CAFile = filepath.Join(dir, id+"-ca.pem")
		if err := os.WriteFile(cfg.CAFile, []byte(res.CAPEM), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// StartAgents enrolls and runs n agents named prefix-1..prefix-n.
func StartAgents(t testing.TB, c *controller.Controller, cl *client.Client, prefix string, n int) []*Agent {
	t.Helper()
	dir := t.TempDir()
	out := make([]*Agent, n)
	for i := range n {
		cfg := EnrollConfig(t, cl, c, fmt.Sprintf("%s-%d", prefix, i+1), dir)
		out[i] = RunAgent(t, cfg)
	}
	return out
}

// RunAgent runs one agent with cfg until the test ends.
func RunAgent(t testing.TB, cfg agent.Config) *Agent {
	t.Helper()
	return RunAgentWith(t, cfg, AgentOptions{})
}

// AgentOptions are the optional parts of RunAgentWith.
type AgentOptions struct {
	// ConfigPath makes the agent persist trust updates to this file;
	// WriteAgentConfig writes cfg there first.
	ConfigPath string
	// Logger replaces the default logger (the test's output).
	Logger *slog.Logger
	// Facts replaces the fixed fact table.
	Facts func(context.Context) messages.Facts
	// Uninstall is the agent's self-removal (see agent.Options); nil
	// refuses the uninstall verb, as an agent outside systemd does.
	Uninstall func(context.Context, messages.UninstallArgs) (messages.UninstallReply, error)
	// StateDir gives the agent a state directory (event outbox, accepted
	// commands, replay cache), as systemd does; empty keeps them in memory.
	StateDir string
	// SelfUpdate is the agent's self-updater (see agent.Options); nil
	// answers agent_upgrade unknown_verb.
	SelfUpdate func(service.Dialer, *messages.Verifier) agent.SelfUpdater
}

// RunAgentWith runs one agent with cfg and o until the test ends.
func RunAgentWith(t testing.TB, cfg agent.Config, o AgentOptions) *Agent {
	t.Helper()
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	facts := o.Facts
	if facts == nil {
		facts = Facts(cfg.ID)
	}
	a, err := agent.New(agent.Options{Config: cfg, ConfigPath: o.ConfigPath, Version: "test", Facts: facts, Logger: logger, Uninstall: o.Uninstall, StateDir: o.StateDir,
		SelfUpdate: o.SelfUpdate})
	if err != nil {
		t.Fatalf("agent %s: %v", cfg.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &Agent{ID: cfg.ID, Agent: a, Config: cfg, cancel: cancel, done: make(chan struct{})}
	go func() {
		if ta.err = a.Run(ctx); ta.err != nil {
			logger.Error("agent run failed", "err", ta.err)
		}
		close(ta.done)
	}()
	t.Cleanup(func() { cancel(); <-ta.done })
	return ta
}

// CheckFor polls fn every step until it returns nil or total elapses, then
// fails with fn's last error. It replaces sleeps in tests.
func CheckFor(t testing.TB, total, step time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		time.Sleep(step)
	}
}

// ConnectFunc returns a Connect function for CLI options that dials c as
// the bootstrap admin.
func ConnectFunc(t testing.TB, c *controller.Controller) func(context.Context) (*client.Client, error) {
	t.Helper()
	ca := WriteCA(t, c)
	return func(ctx context.Context) (*client.Client, error) {
		return client.Connect(ctx, client.Options{URL: c.URLs()[0], CredsFile: c.AdminCredsPath(), CAFile: ca})
	}
}

// WaitOnline polls until n hosts are online.
func WaitOnline(t testing.TB, cl *client.Client, n int) {
	t.Helper()
	WaitOnlineFor(t, cl, n, 20*time.Second, 20*time.Millisecond)
}

// WaitOnlineFor is WaitOnline with its own bound and polling interval, for
// fleets too large to list every 20ms.
func WaitOnlineFor(t testing.TB, cl *client.Client, n int, within, every time.Duration) {
	t.Helper()
	CheckFor(t, within, every, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		online := 0
		for _, h := range hl.Hosts {
			if h.State == messages.StateOnline {
				online++
			}
		}
		if online != n {
			return fmt.Errorf("%d of %d online", online, n)
		}
		return nil
	})
}

// WriteAgentConfig writes cfg as the agent's config file in dir and
// returns its path, for agents that persist trust updates.
func WriteAgentConfig(t testing.TB, cfg agent.Config, dir string) string {
	t.Helper()
	b, err := agent.RenderConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, cfg.ID+".yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// CreateOperator makes an operator key pair, registers it with role
// through cl (an admin), and returns the seed file's path (0600).
func CreateOperator(t testing.TB, cl *client.Client, name, role string) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	p := filepath.Join(t.TempDir(), name+".nk")
	if err := os.WriteFile(p, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateOperator(context.Background(), messages.OperatorCreateRequest{Name: name, Role: role, PublicKey: pub}); err != nil {
		t.Fatalf("create operator %s: %v", name, err)
	}
	return p
}

// ClientAs connects to c with the operator seed file creds.
func ClientAs(t testing.TB, c *controller.Controller, creds string) (*client.Client, error) {
	t.Helper()
	cl, err := client.Connect(context.Background(), client.Options{URL: c.URLs()[0], CredsFile: creds, CAFile: WriteCA(t, c)})
	if err == nil {
		t.Cleanup(cl.Close)
	}
	return cl, err
}

// LogBuffer collects log output from several goroutines, for tests that
// inspect what was logged (for example that no secret was).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger returns a debug-level JSON logger writing to l.
func (l *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
