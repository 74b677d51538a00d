package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/e2e/procstat"
)

// rawServerMain is a child process running one plain nats-server of a
// cluster (no authentication, no JetStream; TLS for clients when
// BENCH_TLS_DIR holds the material): the raw baseline of the cluster
// benchmark, where each server must have a process of its own for the
// file limit as the controllers do. It prints "raw-server: ready" and
// serves until SIGTERM.
func rawServerMain() int {
	port, _ := strconv.Atoi(os.Getenv("BENCH_PORT"))
	cport, _ := strconv.Atoi(os.Getenv("BENCH_CLUSTER_PORT"))
	opts := &server.Options{ServerName: os.Getenv("BENCH_NAME"), Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "raw", Host: "127.0.0.1", Port: cport},
		Routes:  server.RoutesFromStr(os.Getenv("BENCH_ROUTES"))}
	if dir := os.Getenv("BENCH_TLS_DIR"); dir != "" {
		mat, err := pki.Ensure(dir, []string{"127.0.0.1"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "raw server:", err)
			return 1
		}
		opts.TLS, opts.TLSTimeout = true, 5
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{mat.Server}, MinVersion: tls.VersionTLS12}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "raw server:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "raw server: not ready after 30 s")
		return 1
	}
	fmt.Println("raw-server: ready")
	<-ctx.Done()
	srv.Shutdown()
	return 0
}

// rawClusterResult is the raw baseline of the cluster benchmark.
type rawClusterResult struct {
	last, cpu []time.Duration // per scatter-gather: last reply, machine CPU
}

// runRawCluster measures the physical limit for the cluster benchmark on
// the same machine: three plain nats-server processes with routes
// (withTLS: TLS to clients, as the controllers have), n plain subscribers
// in child processes spread over them, and one requester on the first
// server publishing once to all of them and waiting for n replies of
// replyBytes, the size of a Foundry --summary reply.
func runRawCluster(t *testing.T, n, perChild, iters, reqBytes, replyBytes int, work string, withTLS bool) rawClusterResult {
	t.Helper()
	ports := ct.FreePorts(t, 6)
	var routes, urls []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	env := []string{"BENCH_ROUTES=" + strings.Join(routes, ",")}
	var clientOpts []nats.Option
	kind := "plain"
	if withTLS {
		kind = "tls"
		dir := filepath.Join(work, "raw-cluster-tls")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := pki.Ensure(dir, []string{"127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		ca := filepath.Join(dir, pki.CAFile)
		env = append(env, "BENCH_TLS_DIR="+dir, "BENCH_CA="+ca)
		clientOpts = append(clientOpts, nats.RootCAs(ca))
		for i := range urls {
			urls[i] = strings.Replace(urls[i], "nats://", "tls://", 1)
		}
	}
	ready := regexp.MustCompile(`^raw-server: ready$`)
	var servers []*child
	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), env...), childEnv+"=raw-server", fmt.Sprintf("BENCH_NAME=raw-%d", i+1),
			fmt.Sprintf("BENCH_PORT=%d", ports[i]), fmt.Sprintf("BENCH_CLUSTER_PORT=%d", ports[3+i]))
		servers = append(servers, startChild(t, fmt.Sprintf("raw-%s-server-%d", kind, i+1), cmd, work))
	}
	for _, s := range servers {
		if _, err := s.waitLine(ready, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(urls[0], append(clientOpts, nats.Name("raw-requester"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	t0 := time.Now()
	var subs []*child
	if len(shards(n, perChild)) > 150 {
		t.Fatalf("%d subscriber processes; source addresses 127.0.101.1 up go only to 127.0.250.1", len(shards(n, perChild)))
	}
	for i, s := range shards(n, perChild) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), env...), childEnv+"=raw", "BENCH_URL="+strings.Join(urls, ","),
			fmt.Sprintf("BENCH_FIRST=%d", s[0]), fmt.Sprintf("BENCH_COUNT=%d", s[1]), fmt.Sprintf("BENCH_REPLY_BYTES=%d", replyBytes),
			fmt.Sprintf("BENCH_SOURCE_IP=127.0.%d.1", 101+i))
		subs = append(subs, startChild(t, fmt.Sprintf("raw-%s-subs-%d", kind, i), cmd, work))
	}
	subReady := regexp.MustCompile(`^raw: ready (\d+)$`)
	for _, c := range subs {
		if _, err := c.waitLine(subReady, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("raw %s cluster: %d subscribers connected in %s; load %s", kind, n, time.Since(t0).Round(time.Second), loadAvg())

	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("sim-%d", i+1)
	}
	request := make([]byte, reqBytes)
	var res rawClusterResult
	// Subscriptions reach the other servers asynchronously: the warm-up
	// repeats until all n answer.
	ct.CheckFor(t, 2*time.Minute, time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := rawScatterGather(ctx, nc, ids, request, false)
		return err
	})
	for range iters {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cpu0, err := procstat.BusyCPU()
		if err != nil {
			t.Fatal(err)
		}
		r, err := rawScatterGather(ctx, nc, ids, request, false)
		cpu1, _ := procstat.BusyCPU()
		cancel()
		if err != nil {
			t.Fatalf("raw %s cluster N=%d: %v", kind, n, err)
		}
		res.last = append(res.last, r.last)
		res.cpu = append(res.cpu, cpu1-cpu0)
	}
	for _, c := range subs {
		c.stop(t, time.Minute)
	}
	for _, s := range servers {
		s.stop(t, 30*time.Second)
	}
	return res
}
