// Package agent is the small daemon on every host: it keeps one NATS
// connection to the controller, publishes heartbeats with facts, and runs
// signed commands after verifying them against keys pinned at bootstrap.
//
// It must stay small: it links nats.go, gopsutil and go-systemd, never
// client-go or Helm.
package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/messages"
)

// DefaultHeartbeat is used when the config sets none.
const DefaultHeartbeat = 10 * time.Second

// Options are the agent's dependencies. Facts and Notify are functions so
// that simulated agents can replace the host probes and systemd while
// keeping every other line of the real agent.
type Options struct {
	Config  Config
	Logger  *slog.Logger
	Version string
	// Facts returns the host's current facts.
	Facts func(ctx context.Context) messages.Facts
	// Notify sends an sd_notify state ("READY=1", "WATCHDOG=1", ...); nil
	// outside systemd.
	Notify func(state string)
	// WatchdogInterval is systemd's WatchdogSec, 0 when disabled.
	WatchdogInterval time.Duration
	// Uninstall removes the agent from its host (everything but the
	// running process, which it stops a moment later) and says what it
	// removed; nil where that is not possible (then the uninstall verb is
	// refused).
	Uninstall func(ctx context.Context, args messages.UninstallArgs) (messages.UninstallReply, error)
	// ConfigPath is the file Config was loaded from. A trust update is
	// written back to it (atomically) before it takes effect; without a
	// path the agent keeps trust updates in memory only.
	ConfigPath string
	// Services makes the executor of the host service verbs from a way to
	// open a connection for artifact fetches and the keys the agent
	// trusts (artifacts are signed with them); HostServices is the real
	// one. Nil: the agent (tests, simulations, a foreground run) answers
	// the service verbs unknown_verb and never touches the host.
	Services func(dial service.Dialer, trust *messages.Verifier) ServiceRunner
	// SelfUpdate makes the executor of agent_upgrade from the artifact
	// dialer and the trusted keys (agent/selfupdate); nil: the agent
	// answers agent_upgrade unknown_verb.
	SelfUpdate func(dial service.Dialer, trust *messages.Verifier) SelfUpdater
	// StateDir is the agent's own directory on the host (systemd's
	// StateDirectory): its event outbox, accepted commands, replay cache
	// and start times live there, so they survive a restart. Empty (simulations,
	// tests): they are kept in memory.
	StateDir string
	// LocalAddr, when set, is the source address of the agent's
	// connections. Simulations give each process its own loopback address
	// so tens of thousands of agents do not share one ephemeral port
	// range; a real agent leaves it to the kernel.
	LocalAddr net.Addr
	// SignatureMemo, when set, is shared by the agents of one simulated
	// fleet so that they check an identical signature once
	// (messages.SignatureMemo); nil for a real agent.
	SignatureMemo *messages.SignatureMemo
}

// Agent is one running agent.
type Agent struct {
	opts     Options
	cfg      Config
	logger   *slog.Logger
	verifier *messages.Verifier
	handlers map[string]Handler
	started  time.Time
	// instance is this process's random id and startedMs its start time
	// in unix ms, which orders it after the host's earlier instances;
	// seq numbers everything the instance says (heartbeats and events).
	instance  string
	startedMs int64
	seq       atomic.Uint64
	// outbox holds events until the events stream has them; commands
	// remembers accepted changes across restarts (see commandLog).
	outbox   *outbox
	commands *commandLog
	ackNonce atomic.Uint64 // numbers the events' reply subjects
	// interval and spread are set by the controller's liveness command;
	// they start from the config.
	interval atomic.Int64 // heartbeat, ns
	spread   atomic.Int64 // first reconnect delay spread, ns
	// probing holds while a heartbeat's ping waits for its PONG; missed
	// counts the PONGs in a row that did not come (see probe).
	probing  atomic.Bool
	missed   atomic.Int32
	refusals *limiter
	results  resultCache
	// firstRegister counts the two halves of the first registration; see
	// registerStep.
	firstRegister atomic.Int32
	// attempts and retried count connection attempts made after a wait
	// (nats.go asks for the delay before each) and those that succeeded,
	// for ConnectFailures.
	attempts, retried atomic.Int64
	trustMu           sync.Mutex // serializes trust updates
	// rekeyMu serializes rekey steps; switchPending is set by a commit
	// and turned into switchKey once its answer is sent (afterReply), and
	// Run then moves to a connection made with the new key.
	rekeyMu       sync.Mutex
	switchPending atomic.Bool
	switchKey     chan struct{}
	// services runs the service verbs off the subscription goroutine:
	// slots bounds how many run at once, queued how many may wait.
	services ServiceRunner
	slots    chan struct{}
	queued   atomic.Int32
	inflight sync.WaitGroup
	// fetchSlot holds while an artifact fetch has its connection open
	// (see dialFetch).
	fetchSlot chan struct{}
	// counters are what the heartbeats report for the fleet's metrics.
	counters counters

	// selfUpdate runs agent_upgrade; lastUpgradeFailed is the failed
	// attempt this host rolled back from, reported in every heartbeat's
	// facts until an upgrade succeeds.
	selfUpdate        SelfUpdater
	lastUpgradeFailed atomic.Pointer[messages.AgentUpgradeAttempt]

	mu    sync.Mutex
	nc    *nats.Conn
	abort chan struct{}
}

// New checks the options and loads the agent's keys. It does not connect.
func New(opts Options) (*Agent, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Facts == nil {
		return nil, errors.New("agent needs a facts source")
	}
	if opts.Notify == nil {
		opts.Notify = func(string) {}
	}
	var keys []ed25519.PublicKey
	for _, k := range opts.Config.TrustedKeys {
		pk, err := messages.ParsePublicKey(k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, pk)
	}
	a := &Agent{
		opts: opts, cfg: opts.Config,
		logger:    opts.Logger.With("host", opts.Config.ID),
		verifier:  messages.NewVerifier(keys, nil),
		started:   time.Now(),
		refusals:  newLimiter(10, time.Second),
		abort:     make(chan struct{}),
		switchKey: make(chan struct{}, 1),
		fetchSlot: make(chan struct{}, 1),
	}
	a.verifier.ShareSignatureChecks(opts.SignatureMemo)
	a.handlers = map[string]Handler{
		messages.VerbStatus:      a.handleStatus,
		messages.VerbUninstall:   a.handleUninstall,
		messages.VerbTrustUpdate: a.handleTrustUpdate,
		messages.VerbLiveness:    a.handleLiveness,
		messages.VerbRekey:       a.handleRekey,
	}
	if err := a.openState(); err != nil {
		return nil, err
	}
	a.persistReplays(opts.StateDir)
	if opts.Services != nil {
		a.services = opts.Services(a.dialFetch, a.verifier)
	}
	if a.services != nil {
		a.slots = make(chan struct{}, maxServiceOps)
		a.handlers[messages.VerbServiceApply] = a.handleServiceApply
		a.handlers[messages.VerbServicePlan] = a.handleServicePlan
		a.handlers[messages.VerbServiceStatus] = a.handleServiceStatus
		a.handlers[messages.VerbServiceRemove] = a.handleServiceRemove
		a.handlers[messages.VerbK3sKubeconfig] = a.handleK3sKubeconfig
	}
	if opts.SelfUpdate != nil {
		a.selfUpdate = opts.SelfUpdate(a.dialFetch, a.verifier)
		a.lastUpgradeFailed.Store(a.selfUpdate.LastFailure())
		if a.slots == nil {
			a.slots = make(chan struct{}, maxServiceOps)
		}
		a.handlers[messages.VerbAgentUpgrade] = a.handleAgentUpgrade
	}
	hb := opts.Config.Heartbeat
	if hb == 0 {
		hb = DefaultHeartbeat
	}
	a.interval.Store(int64(hb))
	return a, nil
}

// Handler runs one verified command and returns its reply payload.
type Handler func(ctx context.Context, env *messages.Envelope) (any, error)

// Run connects and serves until ctx ends (a clean stop: goodbye, then
// nil) or Abort is called. A controller that is down is not an error: the
// agent keeps retrying with backoff.
func (a *Agent) Run(ctx context.Context) error {
	l, err := a.connect()
	if err != nil {
		return err
	}
	nc := l.nc
	a.mu.Lock()
	a.nc = nc
	a.mu.Unlock()

	if err := a.subscribe(ctx, nc); err != nil {
		a.closeConn(l)
		return err
	}
	a.registerStep(nc)
	a.opts.Notify("READY=1")
	a.logger.Info("agent started", "urls", a.cfg.URLs, "version", a.opts.Version, "instance", a.instance)
	a.publishEvent(messages.EventAgentStarted, messages.SeverityInfo, "agent started", "", nil)
	if a.selfUpdate != nil {
		go a.settleUpgrade(ctx, nc)
	}
	var stopSender, senderDone chan struct{}
	startSending := func() {
		stopSender, senderDone = make(chan struct{}), make(chan struct{})
		go func(nc *nats.Conn, stop, done chan struct{}) { defer close(done); a.sendEvents(nc, stop) }(nc, stopSender, senderDone)
	}
	stopSending := func() { close(stopSender); <-senderDone }
	startSending()
	defer a.closeState()

	hb := time.NewTimer(jittered(a.heartbeatInterval()))
	defer hb.Stop()
	var wd <-chan time.Time
	if a.opts.WatchdogInterval > 0 {
		t := time.NewTicker(a.opts.WatchdogInterval / 2)
		defer t.Stop()
		wd = t.C
	}
	for {
		select {
		case <-ctx.Done():
			// Service operations see the cancellation, roll back what
			// they changed and answer before the goodbye.
			a.waitServices(serviceStopWait)
			stopSending()
			a.goodbye(l)
			return nil
		case <-a.abort:
			stopSending()
			a.closeConn(l)
			return nil
		case <-a.switchKey:
			nl, err := a.moveConn(ctx)
			if err != nil {
				// nkey_file already holds the new key, which the
				// controller enrolled before the commit: try again.
				a.logger.Warn("could not connect with the new key yet; retrying", "err", err)
				time.AfterFunc(rekeyRetry, func() {
					select {
					case a.switchKey <- struct{}{}:
					default:
					}
				})
				continue
			}
			stopSending()
			old := l
			l, nc = nl, nl.nc
			startSending()
			a.closeConn(old)
			a.logger.Info("connected with the new key", "url", nc.ConnectedUrl())
		case <-l.closed:
			stopSending()
			// Not our doing: end with an error so systemd restarts the
			// agent, rather than live on without a connection while the
			// watchdog keeps saying all is well.
			return fmt.Errorf("connection to the controller closed for good: %v", nc.LastError())
		case <-hb.C:
			if nc.IsConnected() {
				a.heartbeat(nc, messages.KindHeartbeat)
				a.probe(nc)
			}
			hb.Reset(jittered(a.heartbeatInterval()))
		case <-wd:
			a.opts.Notify("WATCHDOG=1")
		}
	}
}

// Abort stops the agent like a crash: the connection drops without a
// goodbye, so the controller sees a silent host. Tests and simulations use
// it to model host failure.
func (a *Agent) Abort() {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.abort:
	default:
		close(a.abort)
	}
}

// link is one command connection with its own end signals: closed when
// nats.go gives it up for good, done after its last callback. A key
// rotation replaces the link while the agent runs; closing the old one
// must not look like losing the controller.
type link struct {
	nc        *nats.Conn
	closed    chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	doneOnce  sync.Once
}

// subscribe listens on the host's command subject and the broadcast.
func (a *Agent) subscribe(ctx context.Context, nc *nats.Conn) error {
	cmdSubj, _ := messages.CommandSubject(a.cfg.ID)
	for _, s := range []string{cmdSubj, messages.BroadcastSubject()} {
		sub, err := nc.Subscribe(s, func(m *nats.Msg) { a.handleCommand(ctx, m) })
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", s, err)
		}
		_ = sub.SetPendingLimits(1024, 16<<20)
	}
	return nil
}

// moveConn opens a command connection with the key now in nkey_file and
// makes it the agent's, subscribed and registered, before the caller
// closes the old one: the host keeps its command subscription throughout,
// so the controller never sees it disconnected.
func (a *Agent) moveConn(ctx context.Context) (*link, error) {
	l, err := a.connect()
	if err != nil {
		return nil, err
	}
	if err := a.subscribe(ctx, l.nc); err != nil {
		a.closeConn(l)
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, 2*connectTimeout)
	defer cancel()
	if err := l.nc.FlushWithContext(fctx); err != nil {
		a.closeConn(l)
		return nil, fmt.Errorf("the new connection did not come up: %w", err)
	}
	a.mu.Lock()
	a.nc = l.nc
	a.mu.Unlock()
	a.heartbeat(l.nc, messages.KindRegister)
	return l, nil
}

func (a *Agent) connect() (*link, error) {
	opts, err := a.identityOptions("foundry-agent:" + a.cfg.ID)
	if err != nil {
		return nil, err
	}
	l := &link{closed: make(chan struct{}), done: make(chan struct{})}
	opts = append(opts,
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(func(n int) time.Duration {
			a.attempts.Add(1)
			return reconnectDelay(n, randJitter()) + firstSpread(n, time.Duration(a.spread.Load()))
		}),
		// The heartbeat is the agent's ping (see probe); nats.go's own
		// timer stays only as a backstop, at a pace that costs a
		// large fleet nothing.
		nats.PingInterval(pingBackstop),
		nats.MaxPingsOutstanding(2),
		nats.ReconnectBufSize(256<<10),
		nats.ConnectHandler(func(c *nats.Conn) {
			if a.attempts.Load() > 0 { // the first connection needed retries
				a.retried.Add(1)
			}
			a.logger.Info("connected", "url", c.ConnectedUrl())
			a.registerStep(c)
		}),
		// nats.go stops reconnecting for good after the same
		// authorization error twice. A connection limit that still counts
		// an attempt the client gave up on (a connect storm on a loaded
		// controller) refuses exactly like that; keep retrying with the
		// backoff instead.
		nats.IgnoreAuthErrorAbort(),
		nats.ClosedHandler(func(*nats.Conn) {
			select {
			case <-a.abort:
			default:
				l.closeOnce.Do(func() { close(l.closed) })
			}
			l.doneOnce.Do(func() { close(l.done) })
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			a.retried.Add(1)
			a.logger.Info("reconnected", "url", c.ConnectedUrl())
			a.heartbeat(c, messages.KindRegister)
			a.outbox.signal()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { a.logger.Warn("disconnected", "err", err) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			a.logger.Warn("cannot reach controller, retrying with backoff", "urls", a.cfg.URLs, "err", err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { a.logger.Warn("nats error", "err", err) }),
	)
	nc, err := nats.Connect(strings.Join(a.cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("controller URLs %v: %w", a.cfg.URLs, err)
	}
	l.nc = nc
	return l, nil
}

// Instance is this agent process's instance id, which its heartbeats and
// events carry.
func (a *Agent) Instance() string { return a.instance }

// ConnectFailures is how many connection attempts failed since the agent
// started: refused, timed out, or turned away at TLS or authorization
// (nats.go reports only some of these, so it is counted as attempts made
// minus attempts that connected). With several controller URLs an
// attempt is one pass over all of them.
func (a *Agent) ConnectFailures() int64 { return max(0, a.attempts.Load()-a.retried.Load()) }

// registerStep sends the first register heartbeat once both halves are
// done: Run has subscribed to the command subjects, and the connection is
// up, which nats.go reports through the connect handler — asynchronously,
// before or after the subscriptions, and even for a connection made
// inside nats.Connect. Registering from both, as before, sent every
// controller two register heartbeats (two registry writes) per agent
// start. Reconnections register in the reconnect handler.
func (a *Agent) registerStep(nc *nats.Conn) {
	if a.firstRegister.Add(1) == 2 {
		a.heartbeat(nc, messages.KindRegister)
	}
}

// readSeed reads the NKey seed, refusing a file others can read.
func readSeed(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("nkey_file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("nkey_file %s is readable by others (mode %o); run chmod 600 on it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nkey_file: %w", err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

func (a *Agent) conn() *nats.Conn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nc
}

// heartbeat publishes one heartbeat of the given kind on nc. It takes the
// connection explicitly because the connect callback can fire before Run
// has stored it.
func (a *Agent) heartbeat(nc *nats.Conn, kind string) {
	hb := messages.Heartbeat{V: messages.Version, Kind: kind, Instance: a.instance, Started: a.startedMs, Seq: a.seq.Add(1), Time: time.Now().UnixMilli(),
		IntervalMs: a.heartbeatInterval().Milliseconds(), Role: a.cfg.Role, Labels: a.cfg.Labels, Facts: a.opts.Facts(context.Background()), Trust: a.verifier.KeyIDs(),
		Counters: a.counters.snapshot()}
	hb.Facts.LastUpgradeFailed = a.lastUpgradeFailed.Load()
	b, _ := json.Marshal(hb)
	subj, _ := messages.HeartbeatSubject(a.cfg.ID)
	if err := nc.Publish(subj, b); err != nil {
		a.logger.Warn("heartbeat not sent", "err", err)
	}
}

// goodbye tells the controller this host is going away on purpose. The
// event goes through the outbox: if the stream cannot take it within
// stopDeliveryBy, the next start delivers it, before its own
// agent_started.
func (a *Agent) goodbye(l *link) {
	nc := l.nc
	a.publishEvent(messages.EventAgentStopping, messages.SeverityInfo, "agent stopping", "", nil)
	a.heartbeat(nc, messages.KindGoodbye)
	a.flushEvents(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := nc.FlushWithContext(ctx); err != nil {
		a.logger.Warn("goodbye not delivered", "err", err)
	}
	a.closeConn(l)
	a.logger.Info("agent stopped")
}

// rekeyRetry is how long the agent waits before trying again to connect
// with a new key after a rotation.
const rekeyRetry = 5 * time.Second

// closeConn closes l's connection and waits (briefly) for nats.go's callbacks, which
// run on a goroutine of their own after Close: the disconnect and close
// handlers log, and nothing should log after Run has returned.
func (a *Agent) closeConn(l *link) {
	l.nc.Close()
	select {
	case <-l.done:
	case <-time.After(2 * time.Second):
	}
}

// HostServices manages this host's services with package service: the
// executor a systemd-run agent uses.
func HostServices(logger *slog.Logger) func(service.Dialer, *messages.Verifier) ServiceRunner {
	return func(dial service.Dialer, trust *messages.Verifier) ServiceRunner {
		return service.New(service.Options{Logger: logger, Source: service.ObjectStore{Dial: dial}, Verifier: trust})
	}
}
