package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/agent/simulate"
	"github.com/foundry-fleet/foundry/controller/client"
)

const simulateUsage = `usage: foundry-agent simulate --count N [--prefix sim] [--first 1]
         (--dir DIR | --enroll --controller URL --creds FILE [--ca FILE] [--dir DIR])
         [--heartbeat 30s] [--ramp 5s] [--log-level warn] [--cpuprofile FILE] [--source-ip IP]
         [--share-signature-checks]

Runs N real agents in this process, each with its own NATS connection and
NKey identity, with simulated facts. Host ids are PREFIX-FIRST ...
PREFIX-(FIRST+N-1), so several processes can share a fleet (--first 5001).

--dir DIR reads DIR/<id>/agent.yaml (and the seed it names) for every id.
--enroll creates and enrolls fresh identities through the controller API
first, writing them to --dir when given (to reuse with --dir later), else
to a temporary directory removed on exit.

--heartbeat sets the interval agents start with; the controller's liveness
policy may change it, as for real agents.

--share-signature-checks lets the agents of this process check an
identical command signature once instead of once each (N hosts would do
it at the same time on their own CPUs, not one after another on this
process's cores); every other check still runs per agent.

Prints "simulate: all N agents connected ..." once every agent is up, then
runs until SIGTERM or SIGINT, when every agent says goodbye.
`

// simulateOptions are the simulate subcommand's flags.
type simulateOptions struct {
	count, first, parallel int
	prefix, dir, logLevel  string
	enroll                 bool
	controller, creds, ca  string
	heartbeat, ramp        time.Duration
	cpuprofile             string
	sourceIP               string
	shareSignatureChecks   bool
}

func parseSimulateFlags(args []string, stderr io.Writer) (simulateOptions, error) {
	var o simulateOptions
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, simulateUsage) }
	fs.IntVar(&o.count, "count", 0, "number of agents (required)")
	fs.StringVar(&o.prefix, "prefix", "sim", "host id prefix")
	fs.IntVar(&o.first, "first", 1, "index of the first agent")
	fs.StringVar(&o.dir, "dir", "", "simulation directory")
	fs.BoolVar(&o.enroll, "enroll", false, "enroll fresh identities through the controller first")
	fs.StringVar(&o.controller, "controller", "", "controller URL (with --enroll)")
	fs.StringVar(&o.creds, "creds", "", "operator NKey seed file (with --enroll)")
	fs.StringVar(&o.ca, "ca", "", "controller CA file (with --enroll)")
	fs.IntVar(&o.parallel, "enroll-parallel", 16, "concurrent enroll requests")
	fs.DurationVar(&o.heartbeat, "heartbeat", 0, "heartbeat interval of every agent (default: the config's)")
	fs.DurationVar(&o.ramp, "ramp", 5*time.Second, "spread the agents' first connections over this long")
	fs.StringVar(&o.logLevel, "log-level", "warn", "agents' log level: debug, info, warn or error")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "CPU profile from all-connected until stop")
	fs.StringVar(&o.sourceIP, "source-ip", "", "source address of the agents' connections, e.g. 127.0.1.1 (each simulate process its own, so that large fleets do not run out of one address's ephemeral ports)")
	fs.BoolVar(&o.shareSignatureChecks, "share-signature-checks", false, "check an identical command signature once for all agents of this process")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("simulate takes no arguments, got %q", fs.Args())
	case o.count < 1:
		return o, errors.New("--count is required: how many agents to run, e.g. --count 1000")
	case !o.enroll && o.dir == "":
		return o, errors.New("give --dir DIR with prepared agents, or --enroll --controller URL --creds FILE to create them")
	case o.enroll && (o.controller == "" || o.creds == ""):
		return o, errors.New("--enroll needs --controller URL and --creds FILE (an operator seed, e.g. the controller's admin.nk)")
	case !o.enroll && (o.controller != "" || o.creds != "" || o.ca != ""):
		return o, errors.New("--controller, --creds and --ca are for --enroll; agents in --dir take the controller from their agent.yaml")
	case o.ramp < 0:
		return o, fmt.Errorf("--ramp %s is negative", o.ramp)
	case o.sourceIP != "" && net.ParseIP(o.sourceIP) == nil:
		return o, fmt.Errorf("--source-ip %q is not an IP address", o.sourceIP)
	}
	switch o.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return o, fmt.Errorf("--log-level %q must be debug, info, warn or error", o.logLevel)
	}
	return o, nil
}

// runSimulate runs the simulate subcommand until ctx ends.
func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseSimulateFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ids, err := simulate.IDs(o.prefix, o.first, o.count)
	if err != nil {
		return err
	}
	var profile *os.File
	if o.cpuprofile != "" { // created now so a bad path fails before anything connects
		if profile, err = os.Create(o.cpuprofile); err != nil {
			return err
		}
		defer profile.Close()
	}
	cfgs, cleanup, err := simulationConfigs(ctx, o, ids, stdout)
	if err != nil {
		return err
	}
	defer cleanup()

	var local net.Addr
	if o.sourceIP != "" {
		local = &net.TCPAddr{IP: net.ParseIP(o.sourceIP)}
	}
	fleet, err := simulate.Start(ctx, simulate.Options{Configs: cfgs, Ramp: o.ramp, Heartbeat: o.heartbeat,
		Version: version, Logger: newLogger(stderr, o.logLevel).With("component", "simulate"), LocalAddr: local,
		ShareSignatureChecks: o.shareSignatureChecks})
	if err != nil {
		return err
	}
	took, err := fleet.WaitConnected(ctx)
	if err != nil {
		<-fleet.Done()
		if ctx.Err() != nil && !errors.Is(err, simulate.ErrAgentFailed) {
			return nil // stopped before everyone connected: not an error
		}
		return err
	}
	rss := residentBytes()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(stdout, "simulate: all %d agents connected in %s; rss %.1f MiB (%.1f KiB per agent), heap %.1f MiB, %d goroutines, %d failed connection attempts\n",
		len(cfgs), took.Round(time.Millisecond), mib(rss), float64(rss)/1024/float64(len(cfgs)),
		mib(ms.HeapInuse), runtime.NumGoroutine(), fleet.ConnectFailures())

	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return err
		}
	}
	<-ctx.Done()
	if profile != nil {
		pprof.StopCPUProfile()
	}
	start := time.Now()
	fmt.Fprintf(stdout, "simulate: stopping %d agents\n", len(cfgs))
	<-fleet.Done()
	fmt.Fprintf(stdout, "simulate: %d failed connection attempts\n", fleet.ConnectFailures())
	fmt.Fprintf(stdout, "simulate: stopped in %s\n", time.Since(start).Round(time.Millisecond))
	return errors.Join(fleet.Errors()...)
}

// simulationConfigs loads or enrolls the agents' configs. cleanup removes
// a temporary directory.
func simulationConfigs(ctx context.Context, o simulateOptions, ids []string, stdout io.Writer) (cfgs []agent.Config, cleanup func(), err error) {
	cleanup = func() {}
	if !o.enroll {
		cfgs, err = simulate.LoadDir(o.dir, ids)
		return cfgs, cleanup, err
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "foundry-simulate-"); err != nil {
			return nil, cleanup, err
		}
		cleanup = func() { os.RemoveAll(dir) }
	}
	cl, err := client.Connect(ctx, client.Options{URL: o.controller, CredsFile: o.creds, CAFile: o.ca, Name: "foundry-agent-simulate"})
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	defer cl.Close()
	start := time.Now()
	cfgs, err = simulate.Enroll(ctx, cl, dir, ids, o.parallel)
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	fmt.Fprintf(stdout, "simulate: enrolled %d agents in %s into %s\n", len(ids), time.Since(start).Round(time.Millisecond), dir)
	return cfgs, cleanup, nil
}

// residentBytes is this process's resident set size (Linux), 0 when
// unknown.
func residentBytes() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
