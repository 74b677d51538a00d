package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// TestSimulateCommand runs the real `foundry-agent simulate` binary the
// way the benchmark does: first enrolling fresh identities into a
// directory, then again from that directory, and checks that the
// controller sees the agents, gets their answers and their goodbyes.
func TestSimulateCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds foundry-agent and runs it against a controller")
	}
	work := t.TempDir()
	bin := buildAgent(t, work)
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ca := ct.WriteCA(t, c)
	dir := filepath.Join(work, "fleet")
	connected := regexp.MustCompile(`^simulate: all (\d+) agents connected in `)
	stopped := regexp.MustCompile(`^simulate: stopped in `)

	out, err := exec.Command(bin, "simulate", "--dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--count is required") {
		t.Fatalf("simulate without --count: %v\n%s", err, out)
	}

	for round, args := range [][]string{
		{"--enroll", "--controller", c.URLs()[0], "--creds", c.AdminCredsPath(), "--ca", ca, "--dir", dir},
		{"--dir", dir, "--source-ip", "127.0.9.1"}, // the same identities, prepared by the first round, from another address
	} {
		args = append([]string{"simulate", "--count", "6", "--first", "3", "--prefix", "cmd", "--ramp", "200ms", "--heartbeat", "1s"}, args...)
		ch := startChild(t, fmt.Sprintf("simulate-%d", round), exec.Command(bin, args...), work)
		m, err := ch.waitLine(connected, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if m[1] != "6" {
			t.Fatalf("round %d: %q", round, m[0])
		}
		if round == 1 {
			cz, err := c.Server().Connz(&server.ConnzOptions{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			from := 0
			for _, ci := range cz.Conns {
				if strings.HasPrefix(ci.Name, "foundry-agent:") && ci.IP == "127.0.9.1" {
					from++
				}
			}
			if from != 6 {
				t.Fatalf("%d of 6 agents connect from --source-ip 127.0.9.1", from)
			}
		}
		ct.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
			res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{TimeoutMs: 5000,
				Hosts: []string{"cmd-3", "cmd-4", "cmd-5", "cmd-6", "cmd-7", "cmd-8"}})
			if err != nil {
				return err
			}
			if len(res.Responded) != 6 {
				return fmt.Errorf("round %d: %d of 6 answered; missing %v", round, len(res.Responded), res.Missing)
			}
			return nil
		})
		ch.stop(t, 30*time.Second)
		if ch.err != nil {
			t.Fatalf("round %d: simulate exited with %v; see %s.stderr", round, ch.err, ch.name)
		}
		ch.mu.Lock()
		lines := strings.Join(ch.out, "\n")
		ch.mu.Unlock()
		if !stopped.MatchString(ch.out[len(ch.out)-1]) {
			t.Fatalf("round %d: output does not end with the stop line:\n%s", round, lines)
		}
		if round == 0 && !strings.Contains(lines, "simulate: enrolled 6 agents") {
			t.Fatalf("round 0 did not enroll:\n%s", lines)
		}
		if round == 1 && strings.Contains(lines, "enrolled") {
			t.Fatalf("round 1 enrolled again instead of reading %s:\n%s", dir, lines)
		}
		ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			hl, err := cl.HostList(context.Background())
			if err != nil {
				return err
			}
			for _, h := range hl.Hosts {
				if h.State != messages.StateOffline {
					return fmt.Errorf("round %d: %s is %s after the simulation stopped", round, h.ID, h.State)
				}
			}
			if len(hl.Hosts) != 6 {
				return fmt.Errorf("registry has %d hosts, want 6", len(hl.Hosts))
			}
			return nil
		})
	}
}
