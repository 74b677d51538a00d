package controller_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/messages"
)

// TestClusterOfThree runs three controllers as one NATS cluster (routes,
// JetStream R3) with 30 agents spread over them, then shuts one down:
// agents fail over, fan-out and the registry keep working from the
// survivors, events are still stored and readable, and enrolment works.
func TestClusterOfThree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node JetStream cluster")
	}
	const n = 30
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%6.2fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	ctx := context.Background()
	// Agents heartbeat every second (the controllers keep them there):
	// 30 replicated KV writes a second is plenty for a 2-core machine
	// running three servers, and a host is online for 3 s after its last
	// heartbeat.
	var dirA string
	var logs ct.LogBuffer
	ctls := ct.StartCluster(t, 3, func(i int, o *controller.Options) {
		o.HeartbeatBase = time.Second
		o.Logger = logs.Logger().With("node", o.Name)
		if i == 0 {
			dirA = o.DataDir
		}
	})
	a, b, c := ctls[0], ctls[1], ctls[2]
	if os.Getenv("CLUSTER_DEBUG") != "" {
		t.Cleanup(func() {
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "WARN") || strings.Contains(l, "ERROR") || strings.Contains(l, "leader") || strings.Contains(l, "watcher") {
					t.Log(l)
				}
			}
		})
	}
	step("cluster of 3 started")
	for _, x := range ctls {
		if x.Replicas() != 3 {
			t.Fatalf("%s: replicas %d, want 3 (three servers in --routes)", x.ServerName(), x.Replicas())
		}
	}
	checkReplicated(t, a, controller.EventsStream, messages.AuditStream, "KV_"+controller.RegistryBucket, "KV_"+controller.IdentityBucket)
	step("streams and buckets are R3 with a leader and two current replicas")
	checkRoutesRefuseStrangers(t, a, dirA)
	step("route listener requires TLS, a client certificate and credentials; strangers refused at the handshake or at CONNECT")

	cls := []*client.Client{ct.Client(t, a), ct.Client(t, b), ct.Client(t, c)}
	dir := t.TempDir()
	agents := map[string]*ct.Agent{}
	cfgs := map[string]agent.Config{}
	for i := range n {
		// Enrol through each controller in turn: every one must accept
		// agents enrolled on any other.
		id := fmt.Sprintf("cl-%02d", i+1)
		cfg := ct.EnrollConfig(t, cls[i%3], ctls[i%3], id, dir)
		if len(cfg.URLs) != 3 {
			t.Fatalf("enrolment through %s handed out %v, want the three controllers' URLs", ctls[i%3].ServerName(), cfg.URLs)
		}
		cfg.Heartbeat = time.Second
		cfgs[id] = cfg
	}
	// All three controllers know all identities before agents dial them.
	for i, cl := range cls {
		waitHosts(t, cl, ctls[i].ServerName(), n, func(h messages.HostRecord) bool { return true })
	}
	for id, cfg := range cfgs {
		agents[id] = ct.RunAgent(t, cfg)
	}
	// nats.go shuffles the URL list, so agents spread over the three
	// nodes; with 30 agents a node without any has probability ~1e-5.
	var on [3][]string
	ct.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		total := 0
		for i, x := range ctls {
			on[i] = ct.AgentsOn(x)
			total += len(on[i])
		}
		if total != n {
			return fmt.Errorf("%d of %d agents connected (%d/%d/%d)", total, n, len(on[0]), len(on[1]), len(on[2]))
		}
		return nil
	})
	step("agents connected: %d on %s, %d on %s, %d on %s", len(on[0]), a.ServerName(), len(on[1]), b.ServerName(), len(on[2]), c.ServerName())
	for i := range ctls {
		if len(on[i]) == 0 {
			t.Fatalf("no agent on %s: %v", ctls[i].ServerName(), on)
		}
	}

	// Every controller's registry follows the bucket: host list is the
	// same on all three, whichever controller took each heartbeat.
	for i, cl := range cls {
		waitHosts(t, cl, ctls[i].ServerName(), n, online)
	}
	step("host list on each controller shows %d online", n)
	waitFanout(t, cls[0], a.ServerName(), n)
	step("FleetStatus from %s: %d of %d replied, agents on all three nodes", a.ServerName(), n, n)

	// "No responders" crosses routes: an agent on B stops; A's fan-out to
	// it ends at once with "not connected", not with the timeout.
	gone := on[1][0]
	if err := agents[gone].Kill(); err != nil {
		t.Fatal(err)
	}
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		// Right after the kill A may still see B's interest for a moment
		// (the unsubscribe travels over the route); then the request
		// is forwarded and only the timeout ends it. Retry until A knows.
		res, err := cls[0].FleetStatus(ctx, messages.FleetStatusRequest{Hosts: []string{gone}, TimeoutMs: 1000})
		if err != nil {
			return err
		}
		if len(res.Missing) != 1 || res.Missing[0].Reason != messages.ReasonNotConnected || res.TimedOut {
			return fmt.Errorf("fan-out to stopped agent: %+v", res)
		}
		if res.ElapsedMs > 1000 {
			return fmt.Errorf("took %.0f ms; no responders should be immediate", res.ElapsedMs)
		}
		return nil
	})
	agents[gone] = ct.RunAgent(t, cfgs[gone])
	step("no responders across routes: %s (agent was on %s) reported not connected by %s at once; agent restarted", gone, b.ServerName(), a.ServerName())

	// Revocation on one controller disconnects the identity everywhere.
	extra := ct.EnrollConfig(t, cls[0], a, "cl-revoked", dir)
	extra.URLs = c.URLs() // connect it to C
	// Only once C has the identity: nats.go gives up on a server that
	// refused the same credentials twice in a row.
	waitHosts(t, cls[2], c.ServerName(), n+1, func(h messages.HostRecord) bool { return true })
	extraAgent := ct.RunAgent(t, extra)
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if !slices.Contains(ct.AgentsOn(c), "cl-revoked") {
			return errors.New("cl-revoked not connected to C yet")
		}
		return nil
	})
	if err := a.RevokeHost(ctx, "cl-revoked"); err != nil {
		t.Fatal(err)
	}
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		for _, x := range ctls {
			if slices.Contains(ct.AgentsOn(x), "cl-revoked") {
				return fmt.Errorf("cl-revoked still connected to %s after revocation on %s", x.ServerName(), a.ServerName())
			}
		}
		return nil
	})
	_ = extraAgent.Kill()
	opsCreds := ct.CreateOperator(t, cls[0], "ops-two", controller.RoleReadOnly)
	var opsOnC *client.Client
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		var err error
		opsOnC, err = ct.ClientAs(t, c, opsCreds)
		return err
	})
	if _, err := opsOnC.HostList(ctx); err != nil {
		t.Fatalf("operator created on A cannot use C: %v", err)
	}
	// The API call may have been served by another node; A learns the
	// new identity from the bucket, so retry until it knows it.
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, err := cls[0].RevokeOperator(ctx, messages.OperatorRevokeRequest{Name: "ops-two"})
		return err
	})
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !opsOnC.Conn().IsClosed() {
			return errors.New("revoked operator still connected to C")
		}
		return nil
	})
	step("revocations on %s closed an agent's and an operator's connections on %s", a.ServerName(), c.ServerName())

	// Shut down B or C: the one leading the registry's stream if either
	// does (so its leadership must move), else the one with more agents.
	leaders := streamLeaders(t, a, controller.EventsStream, messages.AuditStream, "KV_"+controller.RegistryBucket, "KV_"+controller.IdentityBucket)
	victim, survivor, vi := b, c, 1
	switch leaders["KV_"+controller.RegistryBucket] {
	case c.ServerName():
		victim, survivor, vi = c, b, 2
	case b.ServerName():
	default:
		if len(ct.AgentsOn(c)) > len(ct.AgentsOn(b)) {
			victim, survivor, vi = c, b, 2
		}
	}
	step("stream leaders before the failure: %v", leaders)
	moved := ct.AgentsOn(victim)
	if len(moved) == 0 {
		t.Fatalf("no agent on %s to fail over", victim.ServerName())
	}
	clSurvivor := cls[3-vi]
	victim.Shutdown()
	killed := time.Now()
	step("shut down %s with %d agents on it", victim.ServerName(), len(moved))

	ct.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		var all []string
		for _, x := range []*controller.Controller{a, survivor} {
			all = append(all, ct.AgentsOn(x)...)
		}
		if len(all) != n {
			return fmt.Errorf("%d of %d agents connected to the survivors", len(all), n)
		}
		return nil
	})
	step("all %d agents on the survivors after %.2fs", n, time.Since(killed).Seconds())
	// Online is not enough (hosts stay online for 3 s without news):
	// both survivors must have heartbeats from every host sent after the
	// failure, each written to the bucket by whichever survivor took it.
	after := time.Now().UnixMilli()
	for _, pair := range []struct {
		cl   *client.Client
		name string
	}{{cls[0], a.ServerName()}, {clSurvivor, survivor.ServerName()}} {
		waitHosts(t, pair.cl, pair.name, n, func(h messages.HostRecord) bool { return online(h) && h.LastSeen > after })
	}
	step("registry on both survivors has a heartbeat from each of the %d hosts taken after the failure, %.2fs after it", n, time.Since(killed).Seconds())
	step("stream leaders after the failure: %v", streamLeaders(t, a, controller.EventsStream, messages.AuditStream, "KV_"+controller.RegistryBucket, "KV_"+controller.IdentityBucket))
	waitFanout(t, clSurvivor, survivor.ServerName(), n)
	waitFanout(t, cls[0], a.ServerName(), n)
	step("FleetStatus from %s and %s: %d of %d replied", survivor.ServerName(), a.ServerName(), n, n)

	// Enrolment and events with one node of three down: R3 streams take
	// writes with two.
	newCfg := ct.EnrollConfig(t, clSurvivor, survivor, "cl-late", dir)
	newCfg.Heartbeat = time.Second
	if !slices.Contains(newCfg.URLs, a.URLs()[0]) || slices.Contains(newCfg.URLs, victim.URLs()[0]) {
		t.Fatalf("enrolment after the failure handed out %v; want the survivors' URLs", newCfg.URLs)
	}
	ct.RunAgent(t, newCfg)
	waitHosts(t, cls[0], a.ServerName(), n+1, online)
	var types []string
	ct.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		types = types[:0]
		err := clSurvivor.Events(ctx, client.EventQuery{Host: "cl-late", Since: time.Hour}, func(ev messages.Event) error {
			types = append(types, ev.Type)
			return nil
		})
		if err != nil {
			return err
		}
		for _, want := range []string{messages.EventHostEnrolled, messages.EventAgentStarted, messages.EventHostOnline} {
			if !slices.Contains(types, want) {
				return fmt.Errorf("events for cl-late read from %s: %v, want %s", survivor.ServerName(), types, want)
			}
		}
		return nil
	})
	step("new enrolment through %s works, agent online; its events %v read back from %s", survivor.ServerName(), types, survivor.ServerName())
	// Every controller derives the host's state, but only the leading one
	// announces the change. Once both survivors have applied the host's
	// record, a barrier event each survivor stores with an ack comes after
	// anything either published about the change (same connection, same
	// route); then count.
	waitHosts(t, clSurvivor, survivor.ServerName(), n+1, online)
	for _, x := range []*controller.Controller{a, survivor} {
		js, err := jetstream.New(x.InternalConn())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "foundry.evt.cl-late.test_barrier", []byte(`{"v":1,"type":"test_barrier","host":"cl-late"}`)); err != nil {
			t.Fatal(err)
		}
	}
	ct.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		types = types[:0]
		return clSurvivor.Events(ctx, client.EventQuery{Host: "cl-late", Since: time.Hour}, func(ev messages.Event) error {
			types = append(types, ev.Type)
			return nil
		})
	})
	onlines := 0
	for _, ty := range types {
		if ty == messages.EventHostOnline {
			onlines++
		}
	}
	if onlines != 1 {
		t.Errorf("%d host_online events for cl-late, want 1 (one controller announces state changes): %v", onlines, types)
	}
	// The route secret is on every route's CONNECT, never in a log.
	secret, err := os.ReadFile(filepath.Join(dirA, controller.RouteSecretFile))
	if err != nil || len(strings.TrimSpace(string(secret))) < 32 {
		t.Fatalf("route secret: %q %v", secret, err)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(secret))) {
		t.Error("the route secret appears in the controllers' logs")
	}
	refused := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "rid:") && strings.Contains(line, "authentication error") {
			refused = true
		}
	}
	if !refused {
		t.Error("the stranger's route CONNECT was not logged as refused")
	}
	if el := time.Since(start); el > 90*time.Second {
		t.Errorf("cluster scenario took %s", el)
	}
}

func online(h messages.HostRecord) bool { return h.State == messages.StateOnline }

// waitHosts polls cl's host list until want hosts pass ok.
func waitHosts(t *testing.T, cl *client.Client, name string, want int, ok func(messages.HostRecord) bool) {
	t.Helper()
	ct.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		got := 0
		var states []string
		for _, h := range hl.Hosts {
			if ok(h) {
				got++
			} else {
				states = append(states, h.ID+"="+h.State)
			}
		}
		if got != want {
			return fmt.Errorf("%s: %d of %d hosts (others: %v)", name, got, want, states)
		}
		return nil
	})
}

// waitFanout polls until a FleetStatus through cl expects and hears from
// want hosts.
func waitFanout(t *testing.T, cl *client.Client, name string, want int) {
	t.Helper()
	ct.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{TimeoutMs: 5000})
		if err != nil {
			return err
		}
		if res.Expected != want || len(res.Responded) != want || len(res.Missing) != 0 {
			return fmt.Errorf("FleetStatus from %s: expected %d, responded %d, missing %v", name, res.Expected, len(res.Responded), res.Missing)
		}
		for _, r := range res.Responded {
			if r.Error != nil {
				return fmt.Errorf("%s answered %v", r.Host, r.Error)
			}
		}
		return nil
	})
}

// streamLeaders maps each stream to the server leading it.
func streamLeaders(t *testing.T, c *controller.Controller, streams ...string) map[string]string {
	t.Helper()
	js, err := jetstream.New(c.InternalConn())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range streams {
		ct.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
			s, err := js.Stream(context.Background(), name)
			if err != nil {
				return err
			}
			info, err := s.Info(context.Background())
			if err != nil {
				return err
			}
			if info.Cluster == nil || info.Cluster.Leader == "" {
				return fmt.Errorf("%s has no leader", name)
			}
			out[name] = info.Cluster.Leader
			return nil
		})
	}
	return out
}

// checkReplicated asserts each stream has 3 replicas, a leader and two
// current followers.
func checkReplicated(t *testing.T, c *controller.Controller, streams ...string) {
	t.Helper()
	js, err := jetstream.New(c.InternalConn())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range streams {
		ct.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
			s, err := js.Stream(context.Background(), name)
			if err != nil {
				return err
			}
			info, err := s.Info(context.Background())
			if err != nil {
				return err
			}
			if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" {
				return fmt.Errorf("%s: replicas %d, cluster %+v", name, info.Config.Replicas, info.Cluster)
			}
			current := 0
			for _, p := range info.Cluster.Replicas {
				if p.Current {
					current++
				}
			}
			if current != 2 {
				return fmt.Errorf("%s: %d current followers, want 2", name, current)
			}
			return nil
		})
	}
}

// checkRoutesRefuseStrangers checks c's route listener: routes speak TLS
// first, a peer without a certificate from the controller CA is refused
// in the handshake, and one with such a certificate but without the route
// secret is refused at CONNECT. dataDir is a data directory holding the
// shared CA (to issue the second peer's certificate).
func checkRoutesRefuseStrangers(t *testing.T, c *controller.Controller, dataDir string) {
	t.Helper()
	addr := c.Server().ClusterAddr().String()
	pool, err := pki.Pool(c.CAPEM())
	if err != nil {
		t.Fatal(err)
	}
	dial := func(certs []tls.Certificate) (*tls.Conn, string, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: certs, MinVersion: tls.VersionTLS12})
		if err != nil {
			return nil, "", err
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		k, err := conn.Read(buf)
		if err != nil {
			conn.Close()
			return nil, "", err
		}
		return conn, string(buf[:k]), nil
	}
	// No client certificate: the handshake fails (with TLS 1.3 the
	// client learns it on its first read).
	if conn, info, err := dial(nil); err == nil {
		conn.Close()
		t.Fatalf("route listener spoke to a peer without a certificate: %s", info)
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("route without a client certificate: %v", err)
	}
	// A certificate from another CA: refused the same way.
	foreign, err := pki.Ensure(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if conn, _, err := dial([]tls.Certificate{foreign.Server}); err == nil {
		conn.Close()
		t.Fatal("route listener accepted a certificate from another CA")
	}
	// A certificate from the controller CA, but no route secret: the
	// INFO says credentials are required and CONNECT without them fails.
	tmp := t.TempDir()
	for _, f := range []string{pki.CAFile, pki.CAKeyFile} {
		b, err := os.ReadFile(filepath.Join(dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ours, err := pki.Ensure(tmp, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	conn, info, err := dial([]tls.Certificate{ours.Server})
	if err != nil {
		t.Fatalf("route handshake with a certificate from the controller CA: %v", err)
	}
	defer conn.Close()
	for _, want := range []string{`"auth_required":true`, `"tls_required":true`, `"tls_verify":true`} {
		if !strings.Contains(info, want) {
			t.Errorf("route INFO lacks %s: %s", want, info)
		}
	}
	if _, err := fmt.Fprintf(conn, "CONNECT {\"verbose\":false,\"tls_required\":true,\"name\":\"stranger\",\"cluster\":\"foundry-test\"}\r\nPING\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "Authorization Violation") {
		k, err := conn.Read(buf)
		got.Write(buf[:k])
		if err != nil {
			break
		}
	}
	if !strings.Contains(got.String(), "Authorization Violation") {
		t.Fatalf("route CONNECT without the secret was answered %q", got.String())
	}
}
