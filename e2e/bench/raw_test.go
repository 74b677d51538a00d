package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/agent"
)

// Raw NATS scatter-gather, the physical limit Foundry is measured
// against: plain nats.go clients on a plain nats-server, no TLS, no
// authentication, no JSON, no signatures (and, in a third variant, the
// same with TLS, to separate TLS's share of Foundry's cost). Each subscriber listens on the
// shared subject (one publish reaches all) and on its own subject (one
// publish per host, Foundry's addressing), and answers every request with
// a reply as large as a Foundry status reply.
const (
	rawAllSubject  = "bench.all"
	rawHostSubject = "bench.h."

	childEnv = "FOUNDRY_BENCH_CHILD"
)

// rawSubscribersMain is the child process: it connects count subscribers
// named PREFIX-FIRST... to url (a comma-separated list is spread over at
// random, from BENCH_SOURCE_IP if set), prints "raw: ready N" and serves until
// SIGTERM. Its parameters come from the environment because it is the
// test binary re-executed.
func rawSubscribersMain() int {
	url := os.Getenv("BENCH_URL")
	count, _ := strconv.Atoi(os.Getenv("BENCH_COUNT"))
	first, _ := strconv.Atoi(os.Getenv("BENCH_FIRST"))
	size, _ := strconv.Atoi(os.Getenv("BENCH_REPLY_BYTES"))
	reply := bytes.Repeat([]byte("r"), size)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	conns := make([]*nats.Conn, count)
	errs := make(chan error, count)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("sim-%d", first+i)
			opts := []nats.Option{nats.Name("raw:" + id), nats.MaxReconnects(-1), nats.Timeout(5 * time.Second)}
			if ca := os.Getenv("BENCH_CA"); ca != "" {
				opts = append(opts, nats.RootCAs(ca))
			}
			if ip := net.ParseIP(os.Getenv("BENCH_SOURCE_IP")); ip != nil {
				opts = append(opts, nats.SetCustomDialer(agent.SourceDialer(&net.TCPAddr{IP: ip}, 5*time.Second)))
			}
			nc, err := nats.Connect(url, opts...)
			if err != nil {
				errs <- err
				return
			}
			h := func(m *nats.Msg) { _ = m.Respond(reply) }
			if _, err := nc.Subscribe(rawAllSubject, h); err != nil {
				errs <- err
				return
			}
			if _, err := nc.Subscribe(rawHostSubject+id, h); err != nil {
				errs <- err
				return
			}
			if err := nc.Flush(); err != nil {
				errs <- err
				return
			}
			conns[i] = nc
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fmt.Fprintln(os.Stderr, "raw subscribers:", err)
		return 1
	}
	fmt.Printf("raw: ready %d\n", count)
	<-ctx.Done()
	for _, nc := range conns {
		nc.Close()
	}
	return 0
}

// rawResult is one raw scatter-gather.
type rawResult struct {
	last      time.Duration
	latencies []time.Duration
}

// rawScatterGather publishes one request (perHost false: once to the
// shared subject; true: once per host to its own subject with a per-host
// reply subject, as Foundry addresses hosts) and waits for n replies.
func rawScatterGather(ctx context.Context, nc *nats.Conn, ids []string, request []byte, perHost bool) (rawResult, error) {
	n := len(ids)
	inbox := nc.NewInbox()
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	done := make(chan struct{})
	var start time.Time
	sub, err := nc.Subscribe(inbox+".>", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		lat = append(lat, time.Since(start))
		if len(lat) == n {
			close(done)
		}
	})
	if err != nil {
		return rawResult{}, err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		return rawResult{}, err
	}
	mu.Lock()
	start = time.Now()
	mu.Unlock()
	if perHost {
		for _, id := range ids {
			if err := nc.PublishMsg(&nats.Msg{Subject: rawHostSubject + id, Reply: inbox + "." + id, Data: request}); err != nil {
				return rawResult{}, err
			}
		}
	} else if err := nc.PublishMsg(&nats.Msg{Subject: rawAllSubject, Reply: inbox + ".all", Data: request}); err != nil {
		return rawResult{}, err
	}
	_ = nc.Flush()
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return rawResult{}, fmt.Errorf("%d of %d replies: %w", len(lat), n, ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	return rawResult{last: lat[len(lat)-1], latencies: lat}, nil
}
