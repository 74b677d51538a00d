package simulate_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/agent/simulate"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// TestFleetIsRealAgents enrolls a simulated fleet through the controller
// API, runs it, and checks what the controller sees: one authenticated
// connection per agent under its own identity, registry entries with the
// simulated facts, full fan-out accounting, a killed agent reported as not
// connected, and goodbyes on a clean stop.
func TestFleetIsRealAgents(t *testing.T) {
	const n = 30
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	dir := t.TempDir()
	ids, err := simulate.IDs("sim", 1, n)
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := simulate.Enroll(context.Background(), cl, dir, ids, 4)
	if err != nil {
		t.Fatal(err)
	}
	// The directory reads back to the same configs.
	loaded, err := simulate.LoadDir(dir, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(cfgs, loaded, func(a, b agent.Config) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatalf("LoadDir returned %v, want %v", loaded, cfgs)
	}
	if st, err := os.Stat(filepath.Join(dir, "sim-1", simulate.SeedFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file: %v %v", st, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fleet, err := simulate.Start(ctx, simulate.Options{Configs: loaded, Ramp: 300 * time.Millisecond, Heartbeat: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	took, err := fleet.WaitConnected(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if took < 300*time.Millisecond {
		t.Errorf("all %d agents connected after %s, before the 300ms ramp ended", n, took)
	}
	ct.WaitOnline(t, cl, n)

	// Each agent is connected over TLS under its own NKey, the one whose
	// seed Enroll wrote for it.
	cz, err := c.Server().Connz(&server.ConnzOptions{Limit: 1000, Username: true})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, ci := range cz.Conns {
		if id, ok := strings.CutPrefix(ci.Name, "foundry-agent:"); ok {
			keys[id] = ci.AuthorizedUser
			if ci.TLSVersion == "" {
				t.Errorf("agent connection %s is not TLS", ci.Name)
			}
		}
	}
	distinct := map[string]bool{}
	for _, cfg := range loaded {
		seed, err := os.ReadFile(cfg.NKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		if keys[cfg.ID] != pub {
			t.Errorf("%s connected as %q, want its own key %s", cfg.ID, keys[cfg.ID], pub)
		}
		distinct[keys[cfg.ID]] = true
	}
	if len(distinct) != n {
		t.Errorf("%d distinct agent keys, want %d", len(distinct), n)
	}

	res, err := cl.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Expected != n || len(res.Responded) != n || len(res.Missing) != 0 {
		t.Fatalf("status: expected %d responded %d missing %v", res.Expected, len(res.Responded), res.Missing)
	}
	for _, r := range res.Responded {
		i := slices.Index(ids, r.Host)
		want := simulate.Facts(r.Host, i, "sim")
		if r.Error != nil || r.Status == nil || r.Status.Facts.OS != want.OS || r.Status.Facts.CPUs != want.CPUs ||
			r.Status.MachineID != want.MachineID || r.Status.AgentVersion != "sim" {
			t.Fatalf("reply from %s: %+v", r.Host, r)
		}
	}

	fleet.Kill(4)
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		res, err := cl.FleetStatus(ctx, messages.FleetStatusRequest{Hosts: []string{ids[4], ids[5]}, TimeoutMs: 5_000})
		if err != nil {
			return err
		}
		if len(res.Missing) != 1 || res.Missing[0].Host != ids[4] || res.Missing[0].Reason != messages.ReasonNotConnected {
			return fmt.Errorf("missing %v, want %s not connected", res.Missing, ids[4])
		}
		return nil
	})

	cancel()
	select {
	case <-fleet.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("fleet did not stop within 20s of cancellation")
	}
	if errs := fleet.Errors(); len(errs) != 0 {
		t.Fatalf("agents stopped with errors: %v", errs)
	}
	// Stopped agents said goodbye, so they are offline at once.
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		for _, h := range hl.Hosts {
			if h.ID != ids[4] && h.State != messages.StateOffline {
				return fmt.Errorf("%s is %s after goodbye", h.ID, h.State)
			}
		}
		return nil
	})
}

func TestWaitConnectedReportsAFailedAgent(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	dir := t.TempDir()
	ids, _ := simulate.IDs("bad", 1, 2)
	cfgs, err := simulate.Enroll(context.Background(), cl, dir, ids, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfgs[1].NKeyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fleet, err := simulate.Start(ctx, simulate.Options{Configs: cfgs})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	_, err = fleet.WaitConnected(wctx)
	if !errors.Is(err, simulate.ErrAgentFailed) || !strings.Contains(err.Error(), "bad-2") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("WaitConnected = %v, want ErrAgentFailed naming bad-2 and the fix", err)
	}
}

func TestStartRefusesDuplicatesAndBadConfigs(t *testing.T) {
	cfg := agent.Config{ID: "a-1", URLs: []string{"nats://127.0.0.1:1"}, NKeyFile: "x",
		TrustedKeys: []string{messages.EncodePublicKey(make([]byte, 32))}}
	if _, err := simulate.Start(context.Background(), simulate.Options{Configs: []agent.Config{cfg, cfg}}); err == nil ||
		!strings.Contains(err.Error(), "appears twice") {
		t.Errorf("duplicate ids: %v", err)
	}
	bad := cfg
	bad.ID = "Not Valid"
	if _, err := simulate.Start(context.Background(), simulate.Options{Configs: []agent.Config{bad}}); err == nil {
		t.Error("invalid config accepted")
	}
	if _, err := simulate.Start(context.Background(), simulate.Options{}); err == nil {
		t.Error("empty fleet accepted")
	}
}

func TestLoadDirNamesTheFix(t *testing.T) {
	dir := t.TempDir()
	_, err := simulate.LoadDir(dir, []string{"sim-1"})
	if err == nil || !strings.Contains(err.Error(), "--enroll --dir "+dir) || !errors.Is(err, agent.ErrNoConfig) {
		t.Fatalf("LoadDir on an empty dir: %v", err)
	}
}

func TestIDs(t *testing.T) {
	ids, err := simulate.IDs("sim", 5001, 3)
	if err != nil || !slices.Equal(ids, []string{"sim-5001", "sim-5002", "sim-5003"}) {
		t.Errorf("IDs = %v, %v", ids, err)
	}
	for _, tc := range []struct {
		prefix       string
		first, count int
	}{{"Sim", 1, 1}, {"sim.x", 1, 1}, {"sim", 1, 0}, {"sim", -1, 1}, {strings.Repeat("s", 62), 1, 1}} {
		if _, err := simulate.IDs(tc.prefix, tc.first, tc.count); err == nil {
			t.Errorf("IDs(%q, %d, %d) accepted", tc.prefix, tc.first, tc.count)
		}
	}
}

func TestFactsVary(t *testing.T) {
	seen := map[string]bool{}
	for i := range 20 {
		f := simulate.Facts(fmt.Sprintf("sim-%d", i), i, "v")
		seen[f.OS+"/"+f.Arch+"/"+fmt.Sprint(f.CPUs)] = true
		if f.MemTotal != uint64(f.CPUs)*2<<30 || f.Hostname != fmt.Sprintf("sim-%d", i) || len(f.MachineID) != 32 {
			t.Errorf("facts %d: %+v", i, f)
		}
	}
	if len(seen) < 6 {
		t.Errorf("only %d distinct os/arch/cpus combinations in 20 hosts", len(seen))
	}
}

// TestConnectFailuresAreCounted points agents at a port nobody listens on:
// every failed attempt is counted (the reconnect-storm benchmark reports
// this figure) and no agent counts as connected.
func TestConnectFailuresAreCounted(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ids, err := simulate.IDs("dead", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := simulate.Enroll(context.Background(), cl, t.TempDir(), ids, 2)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "tls://" + l.Addr().String()
	l.Close()
	for i := range cfgs {
		cfgs[i].URLs = []string{dead}
	}
	ctx, cancel := context.WithCancel(context.Background())
	fleet, err := simulate.Start(ctx, simulate.Options{Configs: cfgs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-fleet.Done() }()
	ct.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := fleet.ConnectFailures(); n < 4 {
			return fmt.Errorf("%d failed attempts counted, want at least 2 per agent", n)
		}
		return nil
	})
	if n := fleet.Connected(); n != 0 {
		t.Fatalf("%d agents counted as connected to a dead port", n)
	}
}
