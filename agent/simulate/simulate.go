// Package simulate runs many real agents in one process, for load tests
// and benchmarks of the controller. Each simulated agent is agent.New plus
// Run with its own config, its own NATS connection and its own NKey
// identity; only the host probes (Facts) and systemd (Notify) are
// replaced. Everything the controller sees — TLS, NKey authentication,
// per-identity permissions, register heartbeats, signed command
// verification, replies, goodbyes — is the production code path.
//
// A simulated fleet is prepared in a directory, one sub-directory per
// agent:
//
//	DIR/ca.pem               the controller CA (shared)
//	DIR/<id>/agent.yaml      the agent config, as the installer writes it
//	DIR/<id>/agent.nk        the agent's NKey seed (0600)
//
// Enroll creates such a directory through the controller API; LoadDir
// reads one back.
package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/messages"
)

// Options configure a simulated fleet.
type Options struct {
	// Configs has one config per agent; ids must be distinct.
	Configs []agent.Config
	// Ramp spreads the agents' starts evenly over this duration so that
	// thousands of agents do not dial (and TLS-handshake) in the same
	// instant. Zero starts them all at once.
	Ramp time.Duration
	// Heartbeat, when non-zero, replaces every config's interval.
	Heartbeat time.Duration
	// Version is the agent version reported in facts and replies.
	Version string
	// Logger is shared by every agent (each scopes it with its host id).
	Logger *slog.Logger
	// Facts returns the facts of agent i (0-based) with the given id; nil
	// uses Facts.
	Facts func(id string, i int, version string) messages.Facts
	// LocalAddr is the agents' source address (agent.Options.LocalAddr).
	LocalAddr net.Addr
	// ShareSignatureChecks gives every agent of the fleet one
	// messages.SignatureMemo: a command's signature is checked once in
	// the process instead of once per agent, as N hosts would check it
	// at the same time on N CPUs instead of one after another on the
	// simulator's few cores.
	ShareSignatureChecks bool
}

// Fleet is a running simulated fleet.
type Fleet struct {
	agents   []*agent.Agent
	ids      []string
	started  time.Time
	allUp    chan struct{}
	failed   chan struct{}
	done     chan struct{}
	up       atomic.Int64
	upOnce   []atomic.Bool
	failOnce sync.Once

	mu      sync.Mutex
	errs    []error
	allUpAt time.Duration
}

// ErrAgentFailed is returned by WaitConnected when an agent's Run ended
// with an error before the whole fleet connected.
var ErrAgentFailed = errors.New("simulated agent failed")

// Start creates every agent (so a bad config fails before anything
// connects) and starts them over opts.Ramp. The agents run until ctx ends,
// then each says goodbye like a real agent on SIGTERM.
func Start(ctx context.Context, opts Options) (*Fleet, error) {
	if len(opts.Configs) == 0 {
		return nil, errors.New("simulate: no agents to run")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Facts == nil {
		opts.Facts = Facts
	}
	if opts.Version == "" {
		opts.Version = "sim"
	}
	n := len(opts.Configs)
	f := &Fleet{agents: make([]*agent.Agent, n), ids: make([]string, n), started: time.Now(),
		allUp: make(chan struct{}), failed: make(chan struct{}), done: make(chan struct{}),
		upOnce: make([]atomic.Bool, n)}
	var memo *messages.SignatureMemo
	if opts.ShareSignatureChecks {
		memo = messages.NewSignatureMemo()
	}
	seen := make(map[string]bool, n)
	for i, cfg := range opts.Configs {
		if seen[cfg.ID] {
			return nil, fmt.Errorf("simulate: agent id %s appears twice", cfg.ID)
		}
		seen[cfg.ID] = true
		if opts.Heartbeat != 0 {
			cfg.Heartbeat = opts.Heartbeat
		}
		facts := opts.Facts(cfg.ID, i, opts.Version)
		a, err := agent.New(agent.Options{
			Config: cfg, Logger: opts.Logger, Version: opts.Version,
			Facts:  f.factsFor(i, facts),
			Notify: func(string) {}, LocalAddr: opts.LocalAddr, SignatureMemo: memo,
		})
		if err != nil {
			return nil, fmt.Errorf("simulate: agent %s: %w", cfg.ID, err)
		}
		f.agents[i], f.ids[i] = a, cfg.ID
	}
	go f.launch(ctx, opts.Ramp)
	return f, nil
}

// factsFor returns agent i's facts source. The agent asks for facts only
// to publish a heartbeat (the first one is the register heartbeat sent as
// soon as the connection is up) or to answer a command, so the first call
// marks the agent connected. Uptime moves with the clock.
func (f *Fleet) factsFor(i int, static messages.Facts) func(context.Context) messages.Facts {
	return func(context.Context) messages.Facts {
		if !f.upOnce[i].Load() && f.upOnce[i].CompareAndSwap(false, true) {
			if f.up.Add(1) == int64(len(f.agents)) {
				f.mu.Lock()
				f.allUpAt = time.Since(f.started)
				f.mu.Unlock()
				close(f.allUp)
			}
		}
		fc := static
		fc.Uptime += uint64(time.Since(f.started).Seconds())
		return fc
	}
}

// launch starts agent i at i/n of the ramp, then waits for all to stop.
func (f *Fleet) launch(ctx context.Context, ramp time.Duration) {
	defer close(f.done)
	var wg sync.WaitGroup
	n := len(f.agents)
	for i, a := range f.agents {
		if ramp > 0 && n > 1 {
			at := f.started.Add(ramp * time.Duration(i) / time.Duration(n-1))
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx); err != nil {
				f.fail(fmt.Errorf("agent %s: %w", f.ids[i], err))
			}
		}()
	}
	wg.Wait()
}

func (f *Fleet) fail(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
	f.failOnce.Do(func() { close(f.failed) })
}

// Len is the number of agents.
func (f *Fleet) Len() int { return len(f.agents) }

// IDs are the agents' host ids, in start order.
func (f *Fleet) IDs() []string { return f.ids }

// ConnectFailures is the agents' failed or refused connection attempts,
// summed.
func (f *Fleet) ConnectFailures() int64 {
	var n int64
	for _, a := range f.agents {
		n += a.ConnectFailures()
	}
	return n
}

// Connected is how many agents have connected at least once.
func (f *Fleet) Connected() int { return int(f.up.Load()) }

// WaitConnected returns once every agent has connected (and sent its
// register heartbeat), with the time that took since Start. It returns
// early with ErrAgentFailed when an agent failed, or with ctx's error.
func (f *Fleet) WaitConnected(ctx context.Context) (time.Duration, error) {
	select {
	case <-f.allUp:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.allUpAt, nil
	case <-f.failed:
		return 0, fmt.Errorf("%w: %w", ErrAgentFailed, errors.Join(f.Errors()...))
	case <-ctx.Done():
		return 0, fmt.Errorf("%d of %d agents connected: %w", f.Connected(), f.Len(), ctx.Err())
	}
}

// Done is closed once every started agent has stopped (after the context
// given to Start ended).
func (f *Fleet) Done() <-chan struct{} { return f.done }

// Errors are the errors agents stopped with.
func (f *Fleet) Errors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// Kill stops agent i like a crash (no goodbye), to simulate a host that
// dies.
func (f *Fleet) Kill(i int) { f.agents[i].Abort() }

// Facts is the default fact table: deterministic and varied by index, so
// that targeting expressions select realistic subsets. One host in four
// runs Ubuntu, one in five is arm64, CPUs cycle through 2, 4, 8 and 16
// with 2 GiB of memory per CPU.
func Facts(id string, i int, version string) messages.Facts {
	sum := sha256.Sum256([]byte(id))
	f := messages.Facts{
		Hostname: id, MachineID: hex.EncodeToString(sum[:16]),
		OS: "debian", OSVersion: "12.8", Kernel: "6.1.0-18-amd64", Arch: "amd64",
		CPUs: []int{2, 4, 8, 16}[i%4], DiskTotal: 100e9, DiskUsed: 20e9,
		Load1: 0.25, Load5: 0.2, Load15: 0.15, Uptime: uint64(86400 + i), AgentVersion: version,
	}
	if i%4 == 3 {
		f.OS, f.OSVersion, f.Kernel = "ubuntu", "22.04", "5.15.0-91-generic"
	}
	if i%5 == 4 {
		f.Arch = "arm64"
		if f.OS == "debian" {
			f.Kernel = "6.1.0-18-arm64"
		}
	}
	f.MemTotal = uint64(f.CPUs) * 2 << 30
	f.MemUsed = f.MemTotal / 3
	return f
}
