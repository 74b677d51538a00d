package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/agent/simulate"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/e2e/procstat"
	"github.com/foundry-fleet/foundry/messages"
)

// idleWindow is how long the cluster benchmark measures the idle fleet's
// CPU (a bare sleep is the measurement here, not a wait for an effect).
const idleWindow = 15 * time.Second

// TestClusterFanout runs the large-fleet case: a cluster of three
// controllers, each its own `foundry controller run` process (routes,
// JetStream R3), and FOUNDRY_BENCH_CLUSTER_N simulated agents (default
// 50,000) in child processes of FOUNDRY_BENCH_PER_CHILD (default 10,000)
// that spread over the three nodes by themselves (the enrolment hands out
// all three URLs). Then it times broadcast fleet status --summary, every
// reply accounted, through the API of one controller.
func TestClusterFanout(t *testing.T) {
	if os.Getenv("FOUNDRY_BENCH") != "1" {
		t.Skip("cluster fan-out benchmark: 50,000 agents and three controllers in child processes, minutes of both cores; " +
			"run with FOUNDRY_BENCH=1 (see BENCHMARKS.md)")
	}
	n := envInt(t, "FOUNDRY_BENCH_CLUSTER_N", 50000)
	perChild := envInt(t, "FOUNDRY_BENCH_PER_CHILD", 10000)
	iters := envInt(t, "FOUNDRY_BENCH_ITER", 5)
	// New connections per second over the whole fleet: each costs a TLS
	// handshake, an NKey check and a replicated registry write.
	rate := envInt(t, "FOUNDRY_BENCH_CONNECT_RATE", 500)
	work := workDir(t, "foundry-cluster-")
	agentBin, cliBin := buildAgent(t, work), buildCommand(t, work, "foundry")

	// The physical limit first, on the same machine with nothing else
	// running: plain NATS, one publish to n subscribers on a cluster of
	// three, replies as large as the agents' --summary replies.
	kinds := "plain,tls"
	if v, ok := os.LookupEnv("FOUNDRY_BENCH_RAW"); ok {
		kinds = v // "" skips the baseline
	}
	reqBytes, replyBytes := foundryMessageSizes(true)
	var rawReport strings.Builder
	var rawPlain time.Duration
	for kind := range strings.SplitSeq(kinds, ",") {
		if kind != "plain" && kind != "tls" {
			continue
		}
		r := runRawCluster(t, n, perChild, iters, reqBytes, replyBytes, work, kind == "tls")
		if kind == "plain" {
			rawPlain = median(r.last)
		}
		fmt.Fprintf(&rawReport, "| %d | raw NATS, %s | %s (%s … %s) | %s |\n", n, kind,
			ms(median(r.last)), ms(slices.Min(r.last)), ms(slices.Max(r.last)), ms(mean(r.cpu)))
		t.Logf("raw %s cluster: last reply %s median; load %s", kind, median(r.last).Round(time.Millisecond), loadAvg())
	}

	ctls := startClusterProcs(t, cliBin, work, 3)
	a := ctls[0]
	connect := func() *client.Client {
		cl, err := client.Connect(context.Background(), client.Options{URL: a.url, CredsFile: a.creds, CAFile: a.ca})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	cl := connect()
	defer cl.Close()
	rssBefore := make([]uint64, len(ctls))
	for i, c := range ctls {
		rssBefore[i] = rss(c.pid())
	}

	// Enrol every identity first, through all three controllers, so that
	// enrolment and connections do not compete.
	fleetDir := filepath.Join(work, "fleet")
	t0 := time.Now()
	enrollCluster(t, ctls, fleetDir, n)
	t.Logf("%d identities enrolled in %s; load %s", n, time.Since(t0).Round(time.Second), loadAvg())

	heartbeat := time.Duration(controller.Liveness(n, controller.DefaultHeartbeatBase, controller.DefaultHeartbeatRate).HeartbeatMs) * time.Millisecond
	start := time.Now()
	var children []*child
	for i, s := range shards(n, perChild) {
		ramp := time.Duration(s[1]) * time.Second * time.Duration(len(shards(n, perChild))) / time.Duration(rate)
		args := []string{"simulate", "--dir", fleetDir, "--prefix", "sim", "--first", strconv.Itoa(s[0]), "--count", strconv.Itoa(s[1]),
			"--heartbeat", heartbeat.String(), "--ramp", ramp.String(), "--log-level", "error",
			// One source address per process: 50,000 connections from one
			// address exhaust its ephemeral ports and connect() then
			// spends its time searching for a free one.
			"--source-ip", fmt.Sprintf("127.0.%d.1", i+1)}
		children = append(children, startChild(t, fmt.Sprintf("agents-%d", i), exec.Command(agentBin, args...), work))
	}
	connected := regexp.MustCompile(`^simulate: all (\d+) agents connected in (\S+); .* heap ([\d.]+) MiB.*, (\d+) failed connection attempts`)
	var agentHeap float64
	var failures int64
	for _, ch := range children {
		m, err := ch.waitLine(connected, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := strconv.ParseFloat(m[3], 64)
		agentHeap += h * (1 << 20)
		f, _ := strconv.ParseInt(m[4], 10, 64)
		failures += f
		t.Logf("%s: %s agents connected in %s; load %s", ch.name, m[1], m[2], loadAvg())
	}
	connectTime := time.Since(start)
	spread := connectionsPerPort(ctls)
	t.Logf("all %d agents connected after %s (%d failed attempts); per node %v", n, connectTime.Round(time.Second), failures, spread)

	// The registry is replicated: wait until the controller that serves
	// the API expects every host, and every one answers.
	status := func() (messages.FleetStatusResult, time.Duration) {
		t0 := time.Now()
		res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{TimeoutMs: 60_000, Summary: true})
		if err != nil {
			t.Fatalf("fleet status: %v", err)
		}
		return res, time.Since(t0)
	}
	ct.CheckFor(t, 10*time.Minute, 2*time.Second, func() error {
		res, took := status()
		t.Logf("waiting for the registry: %d expected, %d responded in %.0f ms (%s end to end)", res.Expected, len(res.Responded), res.ElapsedMs, took.Round(time.Millisecond))
		if res.Expected != n || len(res.Responded) != n {
			return fmt.Errorf("fleet status expects %d of %d hosts, %d responded, %d missing (first %v)",
				res.Expected, n, len(res.Responded), len(res.Missing), res.Missing[:min(3, len(res.Missing))])
		}
		return nil
	})
	online := time.Since(start)
	memCtl := make([]string, len(ctls))
	for i, c := range ctls {
		memCtl[i] = fmt.Sprintf("%.1f KiB", float64(rss(c.pid())-rssBefore[i])/1024/float64(max(1, spread[i])))
	}
	var agentRSS uint64
	for _, ch := range children {
		agentRSS += rss(ch.pid())
	}

	var fan, e2e []time.Duration
	// Machine-wide CPU (everything here runs on this machine): summing
	// per-thread counters over nine processes came out above 2 cores ×
	// the wall time at 50,000 agents.
	busy := func() time.Duration {
		d, err := procstat.BusyCPU()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// What the fleet costs while nothing is asked of it (heartbeats,
	// pings, the sweep, replication), part of every status's CPU too.
	idle0, idleStart := busy(), time.Now()
	time.Sleep(idleWindow)
	idle := float64(busy()-idle0) / float64(time.Since(idleStart))
	t.Logf("idle: %.2f cores busy", idle)
	var cpu []time.Duration
	for range iters {
		cpu0 := busy()
		res, took := status()
		cpu = append(cpu, busy()-cpu0)
		if res.Expected != n || len(res.Responded) != n || len(res.Missing) != 0 || res.TimedOut {
			t.Fatalf("fleet status: expected %d, responded %d, missing %d (first %v), timed out %v",
				res.Expected, len(res.Responded), len(res.Missing), res.Missing[:min(3, len(res.Missing))], res.TimedOut)
		}
		for _, r := range res.Responded {
			if r.Error != nil {
				t.Fatalf("fleet status: %s answered %+v", r.Host, r.Error)
			}
		}
		fan = append(fan, time.Duration(res.ElapsedMs*float64(time.Millisecond)))
		e2e = append(e2e, took)
	}
	report := fmt.Sprintf("| %d | 3 | %v | %s | %s | %s (%s … %s) | %s | %s | %.2f | %s | %.1f KiB / %.1f KiB |\n",
		n, spread, connectTime.Round(time.Second), online.Round(time.Second),
		ms(median(fan)), ms(slices.Min(fan)), ms(slices.Max(fan)), ms(median(e2e)), ms(mean(cpu)), idle,
		strings.Join(memCtl, ", "), float64(agentRSS)/1024/float64(n), agentHeap/1024/float64(n))
	fmt.Print("BENCH cluster: | agents | controllers | agents per controller | all connected | all answering | broadcast status --summary, controller (min … max) | end to end | CPU per status, machine | cores busy when idle | controller RSS per agent | agent RSS / heap per agent |\n" + report)
	if rawReport.Len() > 0 {
		fmt.Fprintf(&rawReport, "| %d | Foundry | %s (%s … %s) | %s |\n", n, ms(median(fan)), ms(slices.Min(fan)), ms(slices.Max(fan)), ms(mean(cpu)))
		if rawPlain > 0 {
			fmt.Fprintf(&rawReport, "\nFoundry / raw NATS (plain), last reply: %s\n", ratio(median(fan), rawPlain))
		}
		fmt.Print("BENCH cluster raw: | N | on 3 nodes | last reply, median (min … max) | CPU per scatter-gather, machine |\n" + rawReport.String())
		report += "\n" + rawReport.String()
	}
	t.Logf("load %s", loadAvg())
	if out := os.Getenv("FOUNDRY_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, ch := range children {
		ch.stop(t, 2*time.Minute)
	}
}

// clusterProc is one controller of the cluster, running as its own
// `foundry controller run` process.
type clusterProc struct {
	*child
	url, creds, ca string
	port           int
}

// startClusterProcs initialises n controller data directories the way the
// docs say (`controller init`, then `controller init --keys-from` the
// first), starts `controller run --cluster` for each, and waits until each
// answers the API.
func startClusterProcs(t *testing.T, cli, work string, n int) []*clusterProc {
	t.Helper()
	ports := ct.FreePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	var out []*clusterProc
	for i := range n {
		dir := filepath.Join(work, fmt.Sprintf("ctl-%d", i+1))
		listen := fmt.Sprintf("127.0.0.1:%d", ports[i])
		args := []string{"controller", "init", "--data-dir", dir, "--listen", listen}
		if i > 0 {
			args = append(args, "--keys-from", out[0].dir())
		}
		if b, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
			t.Fatalf("foundry %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		run := exec.Command(cli, "controller", "run", "--data-dir", dir, "--listen", listen, "--log-level", "warn",
			"--name", fmt.Sprintf("ctl-%d", i+1), "--cluster", fmt.Sprintf("127.0.0.1:%d", ports[n+i]),
			"--cluster-name", "bench", "--routes", strings.Join(routes, ","))
		out = append(out, &clusterProc{child: startChild(t, fmt.Sprintf("ctl-%d", i+1), run, work),
			url: "tls://" + listen, creds: filepath.Join(dir, controller.AdminCredsFile), ca: filepath.Join(dir, pki.CAFile), port: ports[i]})
	}
	for _, c := range out {
		ct.CheckFor(t, 2*time.Minute, 500*time.Millisecond, func() error {
			cl, err := client.Connect(context.Background(), client.Options{URL: c.url, CredsFile: c.creds, CAFile: c.ca})
			if err != nil {
				return err
			}
			defer cl.Close()
			_, err = cl.Info(context.Background())
			return err
		})
	}
	return out
}

// enrollCluster enrols sim-1 ... sim-n into dir through the controllers
// in turn (a third each), as `simulate --enroll` would.
func enrollCluster(t *testing.T, ctls []*clusterProc, dir string, n int) {
	t.Helper()
	ids, err := simulate.IDs("sim", 1, n)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ctls))
	per := (n + len(ctls) - 1) / len(ctls)
	for i, c := range ctls {
		part := ids[min(i*per, n):min((i+1)*per, n)]
		wg.Go(func() {
			cl, err := client.Connect(context.Background(), client.Options{URL: c.url, CredsFile: c.creds, CAFile: c.ca})
			if err != nil {
				errs[i] = err
				return
			}
			defer cl.Close()
			_, errs[i] = simulate.Enroll(context.Background(), cl, dir, part, 16)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("enrol: %v", err)
	}
}

func (c *clusterProc) dir() string { return filepath.Dir(c.creds) }

// connectionsPerPort counts the established TCP connections to each
// controller's client port (/proc/net/tcp, local side): the agents it
// serves, plus at most a handful of CLI connections.
func connectionsPerPort(ctls []*clusterProc) []int {
	counts := make([]int, len(ctls))
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return counts
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "01" { // 01 = ESTABLISHED
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseInt(hexPort, 16, 32)
		if err != nil {
			continue
		}
		for i, c := range ctls {
			if int(p) == c.port {
				counts[i]++
			}
		}
	}
	return counts
}
