package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// BenchmarkMetricsScrape measures one Prometheus scrape of a controller
// with n enrolled hosts, nine in ten of them in the registry, against the
// baseline of one host list of the same fleet through the API (what the
// CLI and the web view ask for). The heartbeats are published on the
// controller's own connection, so the registry and the identities are
// real and no agent runs.
//
//	go test -run '^$' -bench BenchmarkMetricsScrape -benchtime 20x -benchmem ./controller/
func BenchmarkMetricsScrape(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		c := ct.StartController(b)
		cl := ct.Client(b, c)
		var wg sync.WaitGroup
		slots := make(chan struct{}, 8)
		errs := make(chan error, n)
		for i := range n {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				errs <- benchHost(c.InternalConn(), cl, i)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		ct.CheckFor(b, time.Minute, 100*time.Millisecond, func() error {
			hl, err := cl.HostList(context.Background())
			if err != nil {
				return err
			}
			registered := 0
			for _, h := range hl.Hosts {
				if h.State != messages.StateEnrolled {
					registered++
				}
			}
			if len(hl.Hosts) != n || registered != n-n/10 {
				return fmt.Errorf("%d hosts listed, %d registered; want %d and %d", len(hl.Hosts), registered, n, n-n/10)
			}
			return nil
		})

		h := c.MetricsHandler()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", "text/plain")
		b.Run(fmt.Sprintf("hosts=%d/scrape", n), func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("scrape: %d %s", rec.Code, rec.Body)
				}
			}
		})
		b.Run(fmt.Sprintf("hosts=%d/host-list", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := cl.HostList(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchHost enrolls host number i and, for nine in ten, publishes its
// register heartbeat (with agent counters) on nc.
func benchHost(nc *nats.Conn, cl *client.Client, i int) error {
	host := fmt.Sprintf("bench-%05d", i)
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	if _, err := cl.Enroll(context.Background(), messages.EnrollRequest{Host: host, PublicKey: pub}); err != nil {
		return fmt.Errorf("enroll %s: %w", host, err)
	}
	if i%10 == 9 {
		return nil // enrolled, never heard from
	}
	subj, _ := messages.HeartbeatSubject(host)
	data, _ := json.Marshal(messages.Heartbeat{V: messages.Version, Kind: messages.KindRegister, Instance: "0123456789abcdef",
		Started: 1, Seq: 1, Time: time.Now().UnixMilli(), IntervalMs: 120_000, Facts: ct.Facts(host)(context.Background()),
		Counters: &messages.AgentCounters{CommandsSucceeded: uint64(i)}})
	return nc.Publish(subj, data)
}
