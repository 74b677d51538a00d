package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockPath is the machine-wide lock one test process holds from its first
// Up (or Hosts) to its Down: hosts.sh uses fixed names (bridge fe-br0,
// netns fe-I, cgroup foundry-e2e, addresses fixed by 10.77.0.0/24), so two
// test processes would share, and tear down, each other's hosts. It does
// not depend on FOUNDRY_E2E_DIR, because those names do not either. The
// kernel drops the lock when the process dies, so a crashed run never
// blocks the next one.
const LockPath = "/run/foundry-e2e-hosts.lock"

// machineLock is the held lock file.
type machineLock struct{ f *os.File }

// lockMachine takes LockPath, waiting for the process that holds it and
// saying so on stderr every waitNote, until ctx ends.
func lockMachine(ctx context.Context, waitNote time.Duration) (*machineLock, error) {
	f, err := os.OpenFile(LockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("harness: open %s: %w", LockPath, err)
	}
	start, noted := time.Now(), time.Time{}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("harness: lock %s: %w", LockPath, err)
		}
		if noted.IsZero() || time.Since(noted) >= waitNote {
			fmt.Fprintf(os.Stderr, "harness: waiting for another e2e run to finish (pid %s, %s so far; lock %s)\n",
				holder(f), time.Since(start).Round(time.Second), LockPath)
			noted = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("harness: another e2e run (pid %s) holds %s: %w", holder(f), LockPath, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if !noted.IsZero() {
		fmt.Fprintf(os.Stderr, "harness: the other e2e run finished; went on after %s\n", time.Since(start).Round(time.Second))
	}
	return &machineLock{f: f}, nil
}

// holder is the pid the current holder wrote, or "?".
func holder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if p := strings.TrimSpace(string(b[:n])); p != "" {
		return p
	}
	return "?"
}

func (l *machineLock) release() {
	if l == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}
