// Package e2e tests Foundry against real hosts: systemd-nspawn containers
// with systemd, sshd and sudo, brought up once per test process by the
// harness (see e2e/testbed/hosts.sh). Run as root: `make e2e`.
package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/e2e/harness"
)

// numHosts is how many hosts the e2e tests share.
const numHosts = 4

// skipReason, when set, is why every test here skips; upErr why they fail.
var (
	skipReason string
	upErr      error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	skipReason = harness.Unavailable()
	if skipReason == "" && testing.Short() {
		skipReason = "-short: the e2e tests boot real hosts"
	}
	if skipReason != "" {
		return m.Run()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := harness.Up(ctx, numHosts); err != nil {
		upErr = err
	} else {
		fmt.Fprintf(os.Stderr, "e2e: %d hosts up in %s\n", numHosts, time.Since(start).Round(10*time.Millisecond))
	}
	code := m.Run()

	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer dcancel()
	if err := harness.Down(dctx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: taking the hosts down: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// hosts returns the shared hosts, skipping or failing t as TestMain decided.
func hosts(t *testing.T) []harness.Host {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if upErr != nil {
		t.Fatalf("e2e hosts did not come up: %v", upErr)
	}
	return harness.Hosts(t, numHosts)
}

// eventually polls check every step until it returns nil or total elapses,
// then fails t with check's last error.
func eventually(t *testing.T, total, step time.Duration, check func() error) {
	t.Helper()
	deadline := time.NewTimer(total)
	defer deadline.Stop()
	tick := time.NewTicker(step)
	defer tick.Stop()
	err := errors.New("never checked")
	for {
		if err = check(); err == nil {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("still failing after %s: %v", total, err)
		case <-tick.C:
		}
	}
}
