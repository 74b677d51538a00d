package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/agent/simulate"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/messages"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "raw":
		os.Exit(rawSubscribersMain())
	case "raw-server":
		os.Exit(rawServerMain())
	}
	os.Exit(m.Run())
}

// benchConfig is read from the environment so the command line stays a
// plain go test.
type benchConfig struct {
	sizes      []int         // FOUNDRY_BENCH_SIZES, default 100,1000,5000,10000
	iters      int           // FOUNDRY_BENCH_ITER, measured fan-outs per size and kind (default 15)
	perChild   int           // FOUNDRY_BENCH_PER_CHILD, connections per child process (default 5000)
	heartbeat  time.Duration // FOUNDRY_BENCH_HEARTBEAT, simulated agents' interval (default: the controller's liveness policy for N)
	profileDir string        // FOUNDRY_BENCH_PROFILE, where to write pprof files for the largest size ("" = none)
	out        string        // FOUNDRY_BENCH_OUT, file the markdown report is written to
	// eachVerifies (FOUNDRY_BENCH_EACH_VERIFIES=1) makes every simulated
	// agent do its own Ed25519 check of every command; by default the
	// agents of one child process share the check (simulate
	// --share-signature-checks), as N hosts would do it in parallel.
	eachVerifies bool
}

func readConfig(t *testing.T) benchConfig {
	// 15 fan-outs per cell: with 5, one slow raw fan-out in the five
	// moved raw's median (and so every ratio) by up to 30% between runs.
	c := benchConfig{sizes: []int{100, 1000, 5000, 10000}, iters: 15, perChild: 5000,
		profileDir: os.Getenv("FOUNDRY_BENCH_PROFILE"), out: os.Getenv("FOUNDRY_BENCH_OUT")}
	if s := os.Getenv("FOUNDRY_BENCH_SIZES"); s != "" {
		c.sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("FOUNDRY_BENCH_SIZES=%q: %q is not a positive number", s, f)
			}
			c.sizes = append(c.sizes, n)
		}
	}
	c.iters = envInt(t, "FOUNDRY_BENCH_ITER", c.iters)
	c.perChild = envInt(t, "FOUNDRY_BENCH_PER_CHILD", c.perChild)
	c.heartbeat = envDuration(t, "FOUNDRY_BENCH_HEARTBEAT", 0)
	c.eachVerifies = os.Getenv("FOUNDRY_BENCH_EACH_VERIFIES") == "1"
	return c
}

// envInt is a positive number from the environment, or def when unset.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		t.Fatalf("%s=%q is not a positive number", name, s)
	}
	return v
}

// envDuration is a positive duration from the environment, or def when
// unset.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q is not a positive duration", name, s)
	}
	return d
}

// measure collects the iterations of one kind of fan-out at one size.
type measure struct {
	last      []time.Duration // time to the last reply, per iteration
	e2e       []time.Duration // Foundry: API request to decoded answer
	lat       []time.Duration // every reply's latency, pooled
	cpuServer []time.Duration // bench process (server or controller, plus requester or client)
	cpuFleet  []time.Duration // child processes (subscribers or agents)
	// Raw only: the bench process's heap and RSS growth per connected
	// subscriber, the plain nats-server's own cost of a connection.
	heapPerConn, rssPerConn float64
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// memory is what one size cost to keep connected.
type memory struct {
	ctlRSSPerAgent, ctlHeapPerAgent float64 // bytes, controller process delta / N
	agentRSSPerAgent                float64 // bytes, children RSS / N
	agentHeapPerAgent               float64 // bytes, children heap in use / N
	connectTime                     time.Duration
	resultBytes                     int
}

type row struct {
	n                     int
	raw1, rawN, rawTLS, f measure
	mem                   memory
}

// TestFanoutBenchmark is the harness: for each size it measures raw
// scatter-gather (one publish, then one publish per host) and Foundry's
// fleet status through the controller API, in that order, each with its
// own server and child processes.
func TestFanoutBenchmark(t *testing.T) {
	if os.Getenv("FOUNDRY_BENCH") != "1" {
		t.Skip("fan-out benchmark: takes many minutes, both cores and up to 10,000 agents in child processes; " +
			"run with FOUNDRY_BENCH=1 (see BENCHMARKS.md)")
	}
	cfg := readConfig(t)
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	work := workDir(t, "foundry-bench-")
	agentBin := buildAgent(t, work)
	reqBytes, replyBytes := foundryMessageSizes(false)
	loadBefore := loadAvg()
	start := time.Now()
	var rows []row
	for _, n := range cfg.sizes {
		r := row{n: n}
		r.raw1, r.rawN = runRaw(t, cfg, n, reqBytes, replyBytes, work, false)
		_, r.rawTLS = runRaw(t, cfg, n, reqBytes, replyBytes, work, true)
		r.f, r.mem = runFoundry(t, cfg, n, agentBin, work)
		rows = append(rows, r)
		t.Logf("N=%d raw %s / %s, foundry %s (%s end to end); load %s", n, median(r.raw1.last), median(r.rawN.last),
			median(r.f.last), median(r.f.e2e), loadAvg())
	}
	report := render(cfg, rows, reqBytes, replyBytes, loadBefore, loadAvg(), time.Since(start))
	fmt.Print(report)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// workDir is a benchmark's scratch directory. Child logs stay after a
// failure (FOUNDRY_BENCH_KEEP=1 keeps them after a success too).
func workDir(t *testing.T, prefix string) string {
	work, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("FOUNDRY_BENCH_KEEP") == "1" {
			t.Logf("work directory kept: %s", work)
			return
		}
		os.RemoveAll(work)
	})
	return work
}

// buildAgent builds foundry-agent from this checkout.
func buildAgent(t *testing.T, dir string) string { return buildCommand(t, dir, "foundry-agent") }

// buildCommand builds ./cmd/<name> from this checkout into dir.
func buildCommand(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// foundryMessageSizes are the sizes of a signed status envelope and of an
// agent's status reply (brief: the --summary one, without payload), so
// the raw benchmark moves as many bytes.
func foundryMessageSizes(brief bool) (req, reply int) {
	env, _ := messages.NewEnvelope(time.Now(), 10*time.Second, "controller", messages.VerbStatus,
		[]string{messages.TargetAll}, messages.StatusRequest{Brief: brief})
	env.KeyID, env.Sig = strings.Repeat("k", 16), make([]byte, 64)
	eb, _ := json.Marshal(env)
	f := simulate.Facts("sim-10000", 9999, "0.0.0-bench")
	r := messages.Reply{V: 1, ID: env.ID, Host: f.Hostname}
	if !brief {
		r.Payload, _ = json.Marshal(messages.StatusReply{Hostname: f.Hostname, MachineID: f.MachineID, AgentVersion: f.AgentVersion,
			StartedAt: time.Now().UnixMilli(), Facts: f})
	}
	rb, _ := json.Marshal(r)
	return len(eb), len(rb)
}

// slices of the fleet, one per child process: first index and count.
func shards(n, per int) [][2]int {
	var out [][2]int
	for first := 1; first <= n; first += per {
		out = append(out, [2]int{first, min(per, n-first+1)})
	}
	return out
}

func fleetCPU(children []*child) time.Duration {
	var d time.Duration
	for _, c := range children {
		d += cpuTime(c.pid())
	}
	return d
}

// runRaw measures raw scatter-gather on a plain nats-server, or with TLS
// (the controller's kind of certificate, from package pki) when withTLS.
func runRaw(t *testing.T, cfg benchConfig, n, reqBytes, replyBytes int, work string, withTLS bool) (one, perHost measure) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxConn: 2 * n}
	var ca string
	var clientOpts []nats.Option
	if withTLS {
		dir := filepath.Join(work, fmt.Sprintf("raw-tls-%d", n))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		mat, err := pki.Ensure(dir, []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		opts.TLS, opts.TLSTimeout = true, 5
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{mat.Server}, MinVersion: tls.VersionTLS12}
		ca = filepath.Join(dir, pki.CAFile)
		clientOpts = append(clientOpts, nats.RootCAs(ca))
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("raw nats-server not ready")
	}
	defer srv.Shutdown()

	heapBefore, rssBefore := settledHeap(), rss(os.Getpid())
	var children []*child
	for i, s := range shards(n, cfg.perChild) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=raw", "BENCH_URL="+srv.ClientURL(),
			fmt.Sprintf("BENCH_FIRST=%d", s[0]), fmt.Sprintf("BENCH_COUNT=%d", s[1]), fmt.Sprintf("BENCH_REPLY_BYTES=%d", replyBytes),
			"BENCH_CA="+ca)
		children = append(children, startChild(t, fmt.Sprintf("raw-tls=%v-%d-%d", withTLS, n, i), cmd, work))
	}
	ready := regexp.MustCompile(`^raw: ready (\d+)$`)
	for _, c := range children {
		if _, err := c.waitLine(ready, 5*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	one.heapPerConn = (float64(settledHeap()) - float64(heapBefore)) / float64(n)
	one.rssPerConn = (float64(rss(os.Getpid())) - float64(rssBefore)) / float64(n)
	perHost.heapPerConn, perHost.rssPerConn = one.heapPerConn, one.rssPerConn
	url := srv.ClientURL()
	if withTLS {
		url = strings.Replace(url, "nats://", "tls://", 1)
	}
	nc, err := nats.Connect(url, append(clientOpts, nats.Name("raw-requester"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("sim-%d", i+1)
	}
	request := make([]byte, reqBytes)
	for _, kind := range []struct {
		m       *measure
		perHost bool
	}{{&one, false}, {&perHost, true}} {
		if withTLS && !kind.perHost {
			continue // the TLS variant is only there to price TLS on Foundry's addressing
		}
		for it := -1; it < cfg.iters; it++ { // iteration -1 warms up
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cpu0, fleet0 := cpuTime(os.Getpid()), fleetCPU(children)
			res, err := rawScatterGather(ctx, nc, ids, request, kind.perHost)
			cpu1, fleet1 := cpuTime(os.Getpid()), fleetCPU(children)
			cancel()
			if err != nil {
				t.Fatalf("raw N=%d perHost=%v: %v", n, kind.perHost, err)
			}
			if it < 0 {
				continue
			}
			kind.m.last = append(kind.m.last, res.last)
			kind.m.lat = append(kind.m.lat, res.latencies...)
			kind.m.cpuServer = append(kind.m.cpuServer, cpu1-cpu0)
			kind.m.cpuFleet = append(kind.m.cpuFleet, fleet1-fleet0)
		}
	}
	for _, c := range children {
		c.stop(t, 30*time.Second)
	}
	return one, perHost
}

func runFoundry(t *testing.T, cfg benchConfig, n int, agentBin, work string) (measure, memory) {
	var m measure
	var mem memory
	dir := filepath.Join(work, fmt.Sprintf("controller-%d", n))
	c, err := controller.Start(context.Background(), controller.Options{Listen: "127.0.0.1:0", DataDir: dir,
		Version: "0.0.0-bench", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	ca := filepath.Join(work, fmt.Sprintf("ca-%d.pem", n))
	if err := os.WriteFile(ca, c.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cl, err := client.Connect(context.Background(), client.Options{URL: c.URLs()[0], CredsFile: c.AdminCredsPath(), CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	heapBefore, rssBefore := settledHeap(), rss(os.Getpid())
	profile := cfg.profileDir != "" && n == slices.Max(cfg.sizes)
	var cpuprofile string
	if profile {
		cpuprofile = filepath.Join(cfg.profileDir, fmt.Sprintf("agents-%d-%%d.pprof", n))
	}
	fl := startFleet(t, cfg, c, cl, n, agentBin, work, ca, cpuprofile)
	children, childHeap := fl.children, fl.heap
	mem.connectTime = fl.connectTime
	heapAfter, rssAfter := settledHeap(), rss(os.Getpid())
	mem.ctlHeapPerAgent = (float64(heapAfter) - float64(heapBefore)) / float64(n)
	if profile { // the heap the per-agent figure is taken from
		writeHeapProfile(t, filepath.Join(cfg.profileDir, fmt.Sprintf("controller-heap-connected-%d.pprof", n)))
	}
	mem.ctlRSSPerAgent = (float64(rssAfter) - float64(rssBefore)) / float64(n)
	var childRSS uint64
	for _, ch := range children {
		childRSS += rss(ch.pid())
	}
	mem.agentRSSPerAgent = float64(childRSS) / float64(n)
	mem.agentHeapPerAgent = childHeap / float64(n)

	fanout := func() (messages.FleetStatusResult, time.Duration, time.Duration, time.Duration) {
		cpu0, fleet0 := cpuTime(os.Getpid()), fleetCPU(children)
		t0 := time.Now()
		res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{TimeoutMs: 60_000})
		e2e := time.Since(t0)
		cpu1, fleet1 := cpuTime(os.Getpid()), fleetCPU(children)
		if err != nil {
			t.Fatalf("fleet status N=%d: %v", n, err)
		}
		if res.Expected != n || len(res.Responded) != n || len(res.Missing) != 0 || res.TimedOut {
			diagnose(t, c, cl, children)
			t.Fatalf("fleet status N=%d: expected %d, responded %d, missing %d (first %v), timed out %v",
				n, res.Expected, len(res.Responded), len(res.Missing), res.Missing[:min(3, len(res.Missing))], res.TimedOut)
		}
		for _, r := range res.Responded {
			if r.Error != nil || r.Status == nil {
				t.Fatalf("fleet status N=%d: %s answered %+v", n, r.Host, r.Error)
			}
		}
		return res, e2e, cpu1 - cpu0, fleet1 - fleet0
	}
	for it := -1; it < cfg.iters; it++ {
		res, e2e, cpuS, cpuF := fanout()
		if it < 0 {
			b, _ := json.Marshal(messages.APIResponse[messages.FleetStatusResult]{Result: res})
			mem.resultBytes = len(b)
			continue
		}
		m.last = append(m.last, time.Duration(res.ElapsedMs*float64(time.Millisecond)))
		m.e2e = append(m.e2e, e2e)
		for _, r := range res.Responded {
			m.lat = append(m.lat, time.Duration(r.LatencyMs*float64(time.Millisecond)))
		}
		m.cpuServer = append(m.cpuServer, cpuS)
		m.cpuFleet = append(m.cpuFleet, cpuF)
	}
	if profile {
		writeProfiles(t, cfg.profileDir, n, cfg.iters, func() { fanout() })
	}
	for _, ch := range children {
		ch.stop(t, time.Minute)
	}
	return m, mem
}

// simFleet is a simulated fleet in child processes, all connected.
type simFleet struct {
	children    []*child
	connectTime time.Duration // the slowest child's, to all connected
	heap        float64       // the children's Go heap in use, bytes
	failures    int64         // failed connection attempts until all connected
}

// startFleet starts n simulated agents in child processes (cfg.perChild
// each), enrolled through the controller, and waits until every one is
// online in the registry. cpuprofile, when set, is a pattern with one %d
// for the child's index.
func startFleet(t *testing.T, cfg benchConfig, c *controller.Controller, cl *client.Client, n int, agentBin, work, ca, cpuprofile string) simFleet {
	t.Helper()
	var children []*child
	// Agents start at the interval the controller's liveness policy wants
	// for this fleet size, as they would be in steady state; otherwise the
	// controller's liveness commands to every host would run during the
	// measurements.
	heartbeat := time.Duration(controller.Liveness(n, controller.DefaultHeartbeatBase, controller.DefaultHeartbeatRate).HeartbeatMs) * time.Millisecond
	if cfg.heartbeat != 0 {
		heartbeat = cfg.heartbeat
	}
	for i, s := range shards(n, cfg.perChild) {
		// About 400 new TLS connections per second per child.
		ramp := max(time.Second, time.Duration(s[1])*time.Second/400)
		args := []string{"simulate", "--enroll", "--controller", c.URLs()[0], "--creds", c.AdminCredsPath(), "--ca", ca,
			"--prefix", "sim", "--first", strconv.Itoa(s[0]), "--count", strconv.Itoa(s[1]),
			"--heartbeat", heartbeat.String(), "--ramp", ramp.String(), "--log-level", "error"}
		if cpuprofile != "" {
			args = append(args, "--cpuprofile", fmt.Sprintf(cpuprofile, i))
		}
		if !cfg.eachVerifies {
			args = append(args, "--share-signature-checks")
		}
		children = append(children, startChild(t, fmt.Sprintf("agents-%d-%d", n, i), exec.Command(agentBin, args...), work))
	}
	connected := regexp.MustCompile(`^simulate: all (\d+) agents connected in (\S+); .* heap ([\d.]+) MiB.*, (\d+) failed connection attempts`)
	fl := simFleet{children: children}
	for _, ch := range children {
		mm, err := ch.waitLine(connected, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := time.ParseDuration(mm[2])
		fl.connectTime = max(fl.connectTime, d)
		h, _ := strconv.ParseFloat(mm[3], 64)
		fl.heap += h * (1 << 20)
		f, _ := strconv.ParseInt(mm[4], 10, 64)
		fl.failures += f
	}
	ct.WaitOnlineFor(t, cl, n, 3*time.Minute, time.Second)
	return fl
}

// diagnose logs what the controller and the children look like when a
// fan-out did not account for every agent.
func diagnose(t *testing.T, c *controller.Controller, cl *client.Client, children []*child) {
	t.Logf("controller has %d client connections", c.Server().NumClients())
	if hl, err := cl.HostList(context.Background()); err == nil {
		states := map[string]int{}
		for _, h := range hl.Hosts {
			states[h.State]++
		}
		t.Logf("registry: %d hosts by state %v", len(hl.Hosts), states)
	}
	if cz, err := c.Server().Connz(&server.ConnzOptions{Limit: 5, Sort: server.ByPending}); err == nil {
		for _, ci := range cz.Conns {
			t.Logf("connection %s: in %d msgs, out %d msgs, pending %d B", ci.Name, ci.InMsgs, ci.OutMsgs, ci.Pending)
		}
	}
	for _, ch := range children {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", ch.pid()))
		t.Logf("%s: cpu %s, rss %d MiB, stat %.60s", ch.name, cpuTime(ch.pid()), rss(ch.pid())>>20, stat)
	}
}

// writeProfiles records the controller's CPU profile over iters fan-outs
// and its heap with every agent connected.
func writeProfiles(t *testing.T, dir string, n, iters int, fanout func()) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("controller-%d.pprof", n)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	for range iters {
		fanout()
	}
	pprof.StopCPUProfile()
	writeHeapProfile(t, filepath.Join(dir, fmt.Sprintf("controller-heap-%d.pprof", n)))
}

func writeHeapProfile(t *testing.T, path string) {
	h, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(h); err != nil {
		t.Fatal(err)
	}
}

// settledHeap is the live heap after a collection. It also returns freed
// memory to the OS, so that RSS deltas are not hidden by heap the raw
// phase left behind.
func settledHeap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func heartbeatNote(cfg benchConfig) string {
	if cfg.heartbeat != 0 {
		return "every " + cfg.heartbeat.String()
	}
	var parts []string
	for _, n := range cfg.sizes {
		hb := time.Duration(controller.Liveness(n, controller.DefaultHeartbeatBase, controller.DefaultHeartbeatRate).HeartbeatMs) * time.Millisecond
		parts = append(parts, fmt.Sprintf("%s at N=%d", hb, n))
	}
	return "at the controller's liveness-policy interval (" + strings.Join(parts, ", ") + ")"
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(a)/float64(b), 'f', 1, 64) + "×"
}

func render(cfg benchConfig, rows []row, reqBytes, replyBytes int, loadBefore, loadAfter string, took time.Duration) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	host, _ := os.Hostname()
	w("Machine: %s, %d CPUs (GOMAXPROCS %d), %s, %s/%s; load average %s before, %s after; run took %s.\n",
		host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadBefore, loadAfter, took.Round(time.Second))
	w("Each cell is over %d measured fan-outs after one warm-up; times are medians, p50/p99 pool every reply of every fan-out, CPU is the mean per fan-out. "+
		"Request %d B, reply %d B in both (raw replies are padded to Foundry's size). Simulated agents heartbeat %s.\n\n",
		cfg.iters, reqBytes, replyBytes, heartbeatNote(cfg))
	if cfg.eachVerifies {
		w("Every simulated agent checked every command's Ed25519 signature itself (FOUNDRY_BENCH_EACH_VERIFIES=1): N checks one after another on this machine's cores.\n\n")
	} else {
		w("The simulated agents of one child process shared each command's Ed25519 check (simulate --share-signature-checks), as N hosts would each check it at once on their own CPUs; every other check ran per agent.\n\n")
	}

	w("### Time to last reply (ms)\n\n")
	w("| N | raw, 1 publish | raw, publish per host | raw + TLS, publish per host | Foundry fan-out (controller) | Foundry end to end (CLI API call) | Foundry/raw (fan-out vs 1 publish) | Foundry/raw (end to end vs 1 publish) |\n")
	w("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		w("| %d | %s | %s | %s | %s | %s | %s | %s |\n", r.n, ms(median(r.raw1.last)), ms(median(r.rawN.last)), ms(median(r.rawTLS.last)),
			ms(median(r.f.last)), ms(median(r.f.e2e)), ratio(median(r.f.last), median(r.raw1.last)), ratio(median(r.f.e2e), median(r.raw1.last)))
	}
	w("\n### Reply latency p50 / p99 (ms, from the publish)\n\n")
	w("| N | raw, 1 publish | raw, publish per host | raw + TLS, publish per host | Foundry |\n|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		w("| %d | %s / %s | %s / %s | %s / %s | %s / %s |\n", r.n,
			ms(percentile(r.raw1.lat, .5)), ms(percentile(r.raw1.lat, .99)),
			ms(percentile(r.rawN.lat, .5)), ms(percentile(r.rawN.lat, .99)),
			ms(percentile(r.rawTLS.lat, .5)), ms(percentile(r.rawTLS.lat, .99)),
			ms(percentile(r.f.lat, .5)), ms(percentile(r.f.lat, .99)))
	}
	w("\n### CPU time per fan-out (ms): server side + fleet side = total\n\n")
	w("Server side is the benchmark process: the nats-server and requester for raw, the controller (with its embedded nats-server) and the API client for Foundry. Fleet side is the child processes: subscribers or agents.\n\n")
	w("| N | raw, 1 publish | raw, publish per host | raw + TLS, publish per host | Foundry | Foundry/raw (total CPU vs 1 publish) | Foundry/raw (server side) |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		cpu := func(m measure) string {
			return fmt.Sprintf("%s + %s = %s", ms(mean(m.cpuServer)), ms(mean(m.cpuFleet)), ms(mean(m.cpuServer)+mean(m.cpuFleet)))
		}
		w("| %d | %s | %s | %s | %s | %s | %s |\n", r.n, cpu(r.raw1), cpu(r.rawN), cpu(r.rawTLS), cpu(r.f),
			ratio(mean(r.f.cpuServer)+mean(r.f.cpuFleet), mean(r.raw1.cpuServer)+mean(r.raw1.cpuFleet)),
			ratio(mean(r.f.cpuServer), mean(r.raw1.cpuServer)))
	}
	w("\n### Memory and connection\n\n")
	w("| N | controller RSS per agent | controller heap per agent | raw + TLS nats-server RSS / heap per subscriber | agent RSS per simulated agent | agent heap per simulated agent | all agents connected after | fleet status answer size |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		w("| %d | %.1f KiB | %.1f KiB | %.1f KiB / %.1f KiB | %.1f KiB | %.1f KiB | %s | %.2f MiB |\n", r.n, r.mem.ctlRSSPerAgent/1024, r.mem.ctlHeapPerAgent/1024,
			r.rawTLS.rssPerConn/1024, r.rawTLS.heapPerConn/1024,
			r.mem.agentRSSPerAgent/1024, r.mem.agentHeapPerAgent/1024, r.mem.connectTime.Round(100*time.Millisecond), float64(r.mem.resultBytes)/(1<<20))
	}
	return b.String()
}
