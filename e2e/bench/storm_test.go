package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// TestReconnectStorm restarts the controller under a connected simulated
// fleet (FOUNDRY_BENCH_STORM_N agents, default 10,000) and measures how
// long until every host is back online in the registry — a register
// heartbeat after the restart — and how many connection attempts failed
// on the way. The agents start at the agent's default heartbeat, so the
// controller's liveness policy reaches them (interval and reconnect
// spread) as it would in a real fleet; the restart waits for that.
func TestReconnectStorm(t *testing.T) {
	if os.Getenv("FOUNDRY_BENCH") != "1" {
		t.Skip("reconnect-storm benchmark: minutes of both cores and 10,000 agents in child processes; " +
			"run with FOUNDRY_BENCH=1 (see BENCHMARKS.md)")
	}
	cfg := readConfig(t)
	n := envInt(t, "FOUNDRY_BENCH_STORM_N", 10000)
	if cfg.heartbeat == 0 {
		cfg.heartbeat = 10 * time.Second // the agent's default, before the policy
	}
	work := workDir(t, "foundry-storm-")
	agentBin := buildAgent(t, work)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String() // the restarted controller listens where the agents dial
	l.Close()
	opts := controller.Options{Listen: addr, DataDir: filepath.Join(work, "controller"), Version: "0.0.0-bench",
		Logger: slog.New(slog.DiscardHandler)}
	c, err := controller.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(work, "ca.pem")
	if err := os.WriteFile(ca, c.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	connect := func(c *controller.Controller) *client.Client {
		cl, err := client.Connect(context.Background(), client.Options{URL: c.URLs()[0], CredsFile: c.AdminCredsPath(), CAFile: ca})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	cl := connect(c)
	fl := startFleet(t, cfg, c, cl, n, agentBin, work, ca, "")
	want := controller.Liveness(n, controller.DefaultHeartbeatBase, controller.DefaultHeartbeatRate)
	ct.CheckFor(t, 5*time.Minute, 2*time.Second, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		behind := 0
		for _, h := range hl.Hosts {
			if h.IntervalMs != want.HeartbeatMs {
				behind++
			}
		}
		if behind > 0 {
			return fmt.Errorf("%d of %d agents not yet at the policy's interval %dms", behind, n, want.HeartbeatMs)
		}
		return nil
	})
	cl.Close()
	t.Logf("%d agents connected in %s with %d failed attempts; liveness policy applied (heartbeat %dms, reconnect spread %dms); load %s",
		n, fl.connectTime, fl.failures, want.HeartbeatMs, want.ReconnectSpreadMs, loadAvg())

	restart := time.Now()
	c.Shutdown()
	down := time.Since(restart)
	logFile, err := os.Create(filepath.Join(work, "controller-restarted.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	opts.Logger = slog.New(slog.NewTextHandler(logFile, nil))
	if c, err = controller.Start(context.Background(), opts); err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer c.Shutdown()
	up := time.Since(restart)
	t.Logf("controller stopped in %s, started again in %s", down.Round(time.Millisecond), (up - down).Round(time.Millisecond))
	cl = connect(c)
	defer cl.Close()
	var back time.Duration
	var timeline []string
	next := 5 * time.Second
	ct.CheckFor(t, 5*time.Minute, time.Second, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		online := 0
		for _, h := range hl.Hosts {
			if h.State == messages.StateOnline && h.LastSeen >= restart.UnixMilli() {
				online++
			}
		}
		if el := time.Since(restart); el >= next || online == n {
			timeline = append(timeline, fmt.Sprintf("%s: %d", el.Round(time.Second), online))
			next += 5 * time.Second
		}
		if online != n {
			return fmt.Errorf("%d of %d hosts back online after the restart", online, n)
		}
		back = time.Since(restart)
		return nil
	})
	var total int64
	stopped := regexp.MustCompile(`^simulate: (\d+) failed connection attempts$`)
	for _, ch := range fl.children {
		ch.stop(t, time.Minute)
		ch.mu.Lock()
		for _, line := range ch.out {
			if m := stopped.FindStringSubmatch(line); m != nil {
				f, _ := strconv.ParseInt(m[1], 10, 64)
				total += f
			}
		}
		ch.mu.Unlock()
	}
	report := fmt.Sprintf("| %d | %s | %s | %s | %d | %s |\n", n, up.Round(time.Millisecond), back.Round(100*time.Millisecond),
		time.Duration(want.ReconnectSpreadMs)*time.Millisecond, total-fl.failures, strings.Join(timeline, ", "))
	fmt.Print("BENCH reconnect storm: | agents | controller restart | all back online | reconnect spread | failed attempts | online over time |\n" + report)
	t.Logf("load %s", loadAvg())
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
