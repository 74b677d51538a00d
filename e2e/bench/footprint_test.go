package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// TestAgentFootprint measures the real agent as shipped: the size of the
// stripped binary (built like `make build`) and the resident memory of
// `foundry-agent run` connected to a controller, sampled every 10 s over
// FOUNDRY_BENCH_IDLE (default 5m) while it heartbeats and idles.
func TestAgentFootprint(t *testing.T) {
	if os.Getenv("FOUNDRY_BENCH") != "1" {
		t.Skip("agent footprint benchmark: runs a real agent for 5 minutes; run with FOUNDRY_BENCH=1 (see BENCHMARKS.md)")
	}
	idle := envDuration(t, "FOUNDRY_BENCH_IDLE", 5*time.Minute)
	work := t.TempDir()
	bin := filepath.Join(work, "foundry-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/foundry-agent")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build foundry-agent: %v\n%s", err, out)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}

	// Production liveness: the agent's default 10 s heartbeat, which the
	// controller's policy keeps for a small fleet.
	c := ct.StartController(t, func(o *controller.Options) {
		o.HeartbeatBase, o.SweepInterval = controller.DefaultHeartbeatBase, time.Second
	})
	cl := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, cl, c, "idle-1", work)
	cfg.Heartbeat = 0
	y, err := agent.RenderConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(work, "agent.yaml")
	if err := os.WriteFile(cfgPath, y, 0o600); err != nil {
		t.Fatal(err)
	}
	ch := startChild(t, "agent", exec.Command(bin, "run", "--config", cfgPath), work)
	ct.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		for _, h := range hl.Hosts {
			if h.ID == "idle-1" && h.State == messages.StateOnline {
				return nil
			}
		}
		return fmt.Errorf("idle-1 is not online yet")
	})
	start := time.Now()
	var peak, last uint64
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for time.Since(start) < idle {
		select {
		case <-ch.done:
			t.Fatalf("the agent exited after %s: %v; see agent.stderr", time.Since(start), ch.err)
		case <-tick.C:
		}
		last = rss(ch.pid())
		peak = max(peak, last)
	}
	res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{Hosts: []string{"idle-1"}, TimeoutMs: 5000})
	if err != nil || len(res.Responded) != 1 {
		t.Fatalf("the agent does not answer after %s idle: %v %+v", idle, err, res.Missing)
	}
	fmt.Printf("BENCH agent footprint: binary %.2f MB (stripped); RSS after %s idle %.1f MB (peak %.1f MB); CPU %s\n",
		float64(st.Size())/1e6, idle, float64(last)/1e6, float64(peak)/1e6, cpuTime(ch.pid()).Round(time.Millisecond))
}
