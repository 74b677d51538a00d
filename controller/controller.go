// Package controller runs Foundry's control plane: an embedded NATS server
// with JetStream, the fleet registry built from heartbeats, identities for
// agents and operators, the signed fan-out engine and the operator API.
//
// Its only durable state is in JetStream (KV buckets and streams) plus the
// keys in its data directory; desired state lives in the user's
// ~/.foundry/*.yaml.
package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller/metrics"
	"github.com/foundry-fleet/foundry/messages"
)

// Options configure a controller. Zero values are sensible defaults for one
// machine.
type Options struct {
	// Listen is the NATS client address, host:port. Port 0 (or -1) picks
	// a free port, which tests use.
	Listen string
	// DataDir holds keys, the CA and the JetStream store.
	DataDir string
	// Advertise are the names and addresses agents use to reach this
	// controller; they go into the server certificate and agent configs.
	Advertise []string
	// Plaintext disables TLS. Only for local development; agents and CLIs
	// then connect without encryption.
	Plaintext bool
	// Version is reported by the info endpoint.
	Version string
	// SweepInterval is how often silent hosts are re-evaluated while the
	// heartbeat interval is HeartbeatBase; it grows with the interval.
	SweepInterval time.Duration
	// HeartbeatBase and HeartbeatRate scale agents' heartbeat interval
	// with fleet size (see Liveness); zero means the defaults.
	HeartbeatBase time.Duration
	HeartbeatRate float64
	// LivenessHold is how long the policy's interval must not have grown
	// before agents are told a shorter one; zero means DefaultLivenessHold.
	LivenessHold time.Duration
	// Logger receives structured logs, including the NATS server's.
	Logger *slog.Logger
	// MaxConnsPerAgent and MaxConnsPerOperator cap the live connections
	// one identity may hold; 0 means the defaults.
	MaxConnsPerAgent    int
	MaxConnsPerOperator int
	// EventsMaxBytes bounds the events stream; 0 means 512 MiB. Tests
	// shrink it to show one host cannot evict the others' history.
	EventsMaxBytes int64

	// Name is this controller's NATS server name. Every controller of a
	// cluster needs its own, stable across restarts (JetStream knows its
	// peers by it). Default: the short hostname when clustered, else
	// "foundry-controller".
	Name string
	// Cluster is the route listen address, host:port (conventionally
	// port 6222), which makes this controller a member of a NATS cluster.
	// Empty means a single controller.
	Cluster string
	// ClusterName names the NATS cluster; every member must use the same
	// one. Default "foundry".
	ClusterName string
	// ClusterAdvertise is the host:port other controllers reach this
	// one's route listener at. Default: the first non-loopback Advertise
	// name with the cluster port. Its host goes into the server
	// certificate.
	ClusterAdvertise string
	// Routes are the route URLs of the cluster's controllers,
	// nats://host:6222; listing this controller too is fine (and lets
	// every member use the same list). Routes use TLS from the controller
	// CA and the route secret in the data directory.
	Routes []string
	// Replicas is the replica count of the KV buckets and streams. Zero
	// means 3 when the routes describe at least 3 servers, else 1.
	Replicas int
	// WebLogin issues web view login links (`controller web-login`);
	// nil when the web view is off.
	WebLogin WebLoginFunc
}

// Controller is a running control plane.
type Controller struct {
	opts    Options
	logger  *slog.Logger
	srv     *server.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	ids     jetstream.KeyValue
	auth    *authenticator
	reg     *registry
	keys    *keyring
	certs   *certHolder // nil in plaintext mode
	audit   *auditor
	replay  *replayCache
	bcast   *replyMux
	caPEM   []byte
	urls    []string
	svc     micro.Service
	cancel  context.CancelFunc
	done    chan struct{}
	plan    *clusterPlan // nil for a single controller
	natsLog *natsLogger

	sweeping     bool
	livenessSent map[string]livenessMark // host -> last liveness command, sweep goroutine only
	livenessHist livenessTrend           // sweep goroutine only
	jobs         lazyKV
	stack        lazyKV
	rejoins      rejoins
	arts         artifactStore
	artDropped   atomic.Uint64 // artifact requests whose reply was not the host's inbox
	apiDropped   atomic.Uint64 // API requests whose reply was not the sender's inbox
	news         *newsBoard
	uploads      *uploadTable
	readsWaiting atomic.Int64 // stream reads waiting for news (tests wait on it)
	auditing     bool
	trustLimiter *keyedLimiter
	denyLog      *keyedLimiter
	issued       *issuedCommands
	metrics      *metrics.Metrics
}

// ErrDataDir means the data directory cannot be used.
var ErrDataDir = errors.New("controller data directory unusable")

// Start brings the controller up and returns once it serves requests.
func Start(ctx context.Context, opts Options) (*Controller, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:4222"
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Second
	}
	if opts.HeartbeatBase == 0 {
		opts.HeartbeatBase = DefaultHeartbeatBase
	}
	if opts.HeartbeatRate == 0 {
		opts.HeartbeatRate = DefaultHeartbeatRate
	}
	if opts.LivenessHold == 0 {
		opts.LivenessHold = DefaultLivenessHold
	}
	if opts.DataDir == "" {
		return nil, fmt.Errorf("%w: no data directory given", ErrDataDir)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDataDir, err)
	}
	host, port, err := splitListen(opts.Listen)
	if err != nil {
		return nil, err
	}
	if len(opts.Advertise) == 0 {
		opts.Advertise = defaultAdvertise(host)
	}
	plan, err := planCluster(&opts)
	if err != nil {
		return nil, err
	}
	if opts.MaxConnsPerAgent <= 0 {
		opts.MaxConnsPerAgent = DefaultMaxConnsPerAgent
	}
	if opts.MaxConnsPerOperator <= 0 {
		opts.MaxConnsPerOperator = DefaultMaxConnsPerOperator
	}
	auth, err := newAuthenticator(opts.MaxConnsPerAgent, opts.MaxConnsPerOperator)
	if err != nil {
		return nil, err
	}
	c := &Controller{opts: opts, logger: opts.Logger, done: make(chan struct{}), livenessSent: map[string]livenessMark{},
		auth:   auth,
		replay: newReplayCache(), news: newNewsBoard(), uploads: newUploadTable(), trustLimiter: newKeyedLimiter(1, time.Minute), denyLog: newKeyedLimiter(1, time.Minute),
		audit: newAuditor(opts.Logger.With("component", "audit")), plan: plan}
	c.issued = newIssuedCommands(maxIssuedCommands)
	c.metrics = c.newMetrics()
	c.auth.onDeny = func(id Identity, limit int) {
		if c.denyLog.allow(id.PublicKey) {
			c.logger.Warn("connection refused: identity is at its connection limit", "kind", id.Kind, "name", id.Name, "limit", limit)
		}
	}

	keys, err := loadKeyring(opts.DataDir)
	if err != nil {
		return nil, err
	}
	c.keys = keys

	sopts := &server.Options{
		ServerName:                 opts.Name,
		Host:                       host,
		Port:                       port,
		NoSigs:                     true,
		JetStream:                  true,
		StoreDir:                   filepath.Join(opts.DataDir, "jetstream"),
		MaxPayload:                 messages.MaxAPIBytes,
		PingInterval:               ServerPingInterval,
		MaxPingsOut:                2,
		AlwaysEnableNonce:          true,
		CustomClientAuthentication: c.auth,
		// Clients are let in only once the controller is ready (listen):
		// an agent that reconnected to a controller still loading its
		// identities would be refused, and one whose register heartbeat
		// arrived before the registry subscribed would stay unseen until
		// its next heartbeat — a minute or two in a large fleet. A
		// cluster member listens at once: nats-server opens routes only
		// after the client port, and the members need routes to start.
		DontListen: plan == nil,
	}
	if !opts.Plaintext {
		names := certNames(host, opts.Advertise)
		if plan != nil {
			names = appendNew(slices.Clone(names), plan.names...)
		}
		certs, err := newCertHolder(opts.DataDir, names)
		if err != nil {
			return nil, fmt.Errorf("prepare TLS: %w", err)
		}
		c.certs = certs
		c.caPEM = certs.mat.CAPEM
		sopts.TLS = true
		sopts.TLSConfig = certs.serverTLS()
		sopts.TLSTimeout = 5
	}
	if plan != nil {
		if err := c.configureCluster(sopts, plan); err != nil {
			return nil, fmt.Errorf("configure cluster: %w", err)
		}
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("configure NATS: %w", err)
	}
	c.auth.alive = func(cid uint64) bool { return srv.GetClient(cid) != nil }
	c.auth.system = srv.SystemAccount
	c.auth.global = srv.GlobalAccount
	c.natsLog = &natsLogger{l: opts.Logger.With("component", "nats"), violation: c.noteViolation, violations: newViolationLog()}
	srv.SetLoggerV2(c.natsLog, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("NATS did not start within 15s; see the log above")
	}
	c.srv = srv
	if err := c.connect(); err != nil {
		srv.Shutdown()
		return nil, err
	}
	if err := c.startServices(ctx); err != nil {
		c.Shutdown()
		return nil, err
	}
	if err := c.listen(); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// listen opens the client port, now that everything a client may ask for
// is in place.
func (c *Controller) listen() error {
	if c.plan == nil {
		ready := make(chan struct{})
		go c.srv.AcceptLoop(ready)
		<-ready
	}
	addr, ok := c.srv.Addr().(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("NATS cannot listen on %s; is the port in use?", c.opts.Listen)
	}
	scheme := "tls"
	if c.opts.Plaintext {
		scheme = "nats"
	}
	for _, a := range c.opts.Advertise {
		c.urls = append(c.urls, scheme+"://"+net.JoinHostPort(a, strconv.Itoa(addr.Port)))
	}
	c.natsLog.ready.Store(true)
	host, _, _ := splitListen(c.opts.Listen)
	if err := writeLocalURLs(c.opts.DataDir, localURLs(scheme, host, addr.Port, c.urls)); err != nil {
		c.logger.Warn("the local CLI will not find this controller by default", "file", filepath.Join(c.opts.DataDir, LocalURLsFile), "err", err)
	}
	c.logger.Info("controller ready", "urls", c.urls, "data_dir", c.opts.DataDir, "tls", !c.opts.Plaintext,
		"server_name", c.opts.Name, "replicas", c.opts.Replicas)
	return nil
}

// connect is the controller's own connection, in-process: it exists
// before the client port opens.
func (c *Controller) connect() error {
	internal, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	pub, _ := internal.PublicKey()
	c.auth.set(Identity{PublicKey: pub, Kind: KindInternal, Name: "controller"})
	c.nc, err = nats.Connect("", nats.InProcessServer(c.srv), nats.Name("foundry-controller"),
		nats.Nkey(pub, internal.Sign), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("controller cannot connect to its own NATS server: %w", err)
	}
	c.js, err = jetstream.New(c.nc)
	return err
}

func (c *Controller) startServices(ctx context.Context) error {
	// In a cluster the first controllers to start wait here until enough
	// peers have joined for the replica count (bounded by ctx).
	reg, ids, err := c.ensureStreams(ctx)
	if err != nil {
		return fmt.Errorf("create JetStream state: %w", err)
	}
	c.ids = ids
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.audit.attach(c.js, c.nc)
	c.auditing = true
	go c.audit.run(runCtx)
	if err := c.loadIdentities(ctx, runCtx); err != nil {
		return err
	}
	if err := c.retry(ctx, "create the bootstrap admin", c.ensureAdmin); err != nil {
		return err
	}
	// Host state changes are announced by one controller (registryEvent).
	// Every controller's cache follows every heartbeat (observe) and the
	// bucket, which one controller per heartbeat writes when due (persist).
	c.reg = newRegistry(reg, c.logger.With("component", "registry"), c.registryEvent)
	c.reg.onRegister = c.catchUpTrust
	c.reg.onRegistered = c.rejoins.registered
	c.reg.metrics = c.metrics
	if err := c.follow(ctx, runCtx, reg, c.applyRegistry); err != nil {
		return fmt.Errorf("load registry: %w", err)
	}
	if _, err := c.nc.Subscribe(messages.HeartbeatWildcard, c.reg.observe); err != nil {
		return err
	}
	if _, err := c.nc.QueueSubscribe(messages.HeartbeatWildcard, "registry", c.reg.persist); err != nil {
		return err
	}
	if err := c.watchDisconnects(runCtx); err != nil {
		return err
	}
	c.markUnconnectedAtStart(time.Now())
	refused, _ := messages.EventFilter("", messages.EventCmdRefused)
	if _, err := c.nc.QueueSubscribe(refused, "audit", c.handleRefusalEvent); err != nil {
		return err
	}
	// Agents may read the artifact store but not create it.
	if err := c.retry(ctx, "open the artifact store", func(ctx context.Context) error {
		if _, err := c.artifacts(ctx); err != nil {
			return err
		}
		return c.boundArtifactConsumers(ctx)
	}); err != nil {
		return err
	}
	if err := c.startArtifactServer(); err != nil {
		return err
	}
	// Before the API answers: a job this controller ran before it died
	// must not be shown running.
	// Not fatal: the cost is a stale "running" record, not a wrong action.
	if err := c.retry(ctx, "mark interrupted jobs", c.interruptJobs); err != nil {
		c.logger.Error("jobs that were running when this controller stopped still say running", "err", err)
	}
	if c.bcast, err = startReplyMux(c.nc, rand.Text()); err != nil {
		return err
	}
	if err := c.startStreamNews(); err != nil {
		return err
	}
	if err := c.startAPI(); err != nil {
		return err
	}
	c.sweeping = true
	go c.sweepLoop(runCtx)
	go c.runUploadSweeps(runCtx)
	if c.plan != nil {
		c.logger.Info("cluster member", "cluster", c.opts.ClusterName, "route_listen", c.srv.ClusterAddr().String(),
			"route_advertise", c.plan.advertise, "servers_in_routes", c.plan.servers)
	}
	return nil
}

func (c *Controller) sweepLoop(ctx context.Context) {
	defer close(c.done)
	t := time.NewTimer(c.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			online := c.reg.sweep(now)
			c.natsLog.flushViolations(now)
			if c.leads() {
				c.enforceLiveness(now, online)
			}
			t.Reset(c.sweepPeriod(online))
		}
	}
}

// sweepPeriod grows with the heartbeat interval the liveness policy
// gives online hosts (online or stale, as the policy counts them), so
// state changes are found at the same fraction of the thresholds (which
// are multiples of the interval) and a sweep costs the same per second at
// any size: 50,000 hosts swept every second took a tenth of the
// benchmark machine's CPU over three controllers, for thresholds of
// minutes.
func (c *Controller) sweepPeriod(online int) time.Duration {
	hb := time.Duration(Liveness(online, c.opts.HeartbeatBase, c.opts.HeartbeatRate).HeartbeatMs) * time.Millisecond
	return c.opts.SweepInterval * max(1, hb/c.opts.HeartbeatBase)
}

// URLs are this controller's own client URLs.
func (c *Controller) URLs() []string { return c.urls }

// ClusterURLs are the client URLs of every controller in the cluster that
// is up, this one's first; what enrolment hands to agents. For a single
// controller it is URLs.
func (c *Controller) ClusterURLs() []string { return c.clientURLs() }

// CAPEM is the CA certificate clients pin, empty in plaintext mode.
func (c *Controller) CAPEM() []byte { return c.caPEM }

// AdminCredsPath is the seed file of the bootstrap admin operator.
func (c *Controller) AdminCredsPath() string { return filepath.Join(c.opts.DataDir, AdminCredsFile) }

// TrustedKeys are the command-signing public keys agents must pin.
func (c *Controller) TrustedKeys() []string { return c.keys.trusted() }

// Server exposes the embedded NATS server, for tests that need to inspect
// connections.
func (c *Controller) Server() *server.Server { return c.srv }

// JetStream is the controller's own, unrestricted JetStream context. It
// is for in-process tests and tools that must reach the stores directly
// (tampering with an artifact, say): operators have no JetStream
// permission at all, and code holding the *Controller is already inside
// its trust boundary.
func (c *Controller) JetStream() jetstream.JetStream { return c.js }

// Wait blocks until ctx ends, then shuts the controller down. Cancellation
// is the normal way to stop, not an error.
func (c *Controller) Wait(ctx context.Context) error {
	<-ctx.Done()
	c.Shutdown()
	return nil
}

// Shutdown stops the API, the NATS connection and the server.
func (c *Controller) Shutdown() {
	if c.cancel != nil {
		c.cancel()
		if c.sweeping {
			<-c.done
		}
		if c.auditing {
			<-c.audit.done
		}
	}
	if c.svc != nil {
		_ = c.svc.Stop()
	}
	if c.nc != nil {
		c.nc.Close()
	}
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
}

func splitListen(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q must be host:port, e.g. 127.0.0.1:4222", listen)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("listen port %q is not a port number", p)
	}
	if port == 0 {
		port = -1 // nats-server's "pick a random port"
	}
	return host, port, nil
}

// defaultAdvertise picks what agents dial when nothing was configured: the
// listen host itself, or loopback plus the hostname for a wildcard listen.
func defaultAdvertise(host string) []string {
	if !wildcardHost(host) {
		return []string{host}
	}
	out := []string{"127.0.0.1"}
	if hn, err := os.Hostname(); err == nil {
		out = append(out, hn)
	}
	return out
}
