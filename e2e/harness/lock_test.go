package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const helperEnv = "FOUNDRY_E2E_HARNESS_HELPER"

// Two e2e runs at once on one machine (two test processes, as two `make
// e2e` would be) both succeed, one after the other: the second waits for
// the first's Down, saying so, instead of using hosts the first one then
// tears down under it.
func TestTwoRunsAtOnceTakeTurns(t *testing.T) {
	if os.Getenv("FOUNDRY_E2E") != "1" {
		t.Skip("boots real hosts twice; runs under `make e2e` (FOUNDRY_E2E=1)")
	}
	if reason := Unavailable(); reason != "" {
		t.Skip(reason)
	}
	if Keep() {
		t.Skip("FOUNDRY_E2E_KEEP=1 leaves hosts running, so the runs would not start from nothing")
	}
	type run struct {
		cmd         *exec.Cmd
		out, errOut bytes.Buffer
	}
	runs := make([]*run, 2)
	for i := range runs {
		r := &run{cmd: exec.Command(os.Args[0], "-test.run=^TestHelperOneRun$", "-test.v")}
		r.cmd.Env = append(os.Environ(), helperEnv+"=1")
		r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errOut
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		runs[i] = r
	}
	type span struct{ start, end int64 }
	spans := make([]span, 2)
	waited := 0
	for i, r := range runs {
		err := r.cmd.Wait()
		t.Logf("run %d (pid %d):\n%s%s", i+1, r.cmd.Process.Pid, r.out.String(), r.errOut.String())
		if err != nil {
			t.Errorf("run %d failed: %v", i+1, err)
			continue
		}
		for _, line := range strings.Split(r.out.String(), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "SPAN" {
				spans[i].start, _ = strconv.ParseInt(f[1], 10, 64)
				spans[i].end, _ = strconv.ParseInt(f[2], 10, 64)
			}
		}
		if spans[i].end == 0 {
			t.Errorf("run %d reported no span", i+1)
		}
		if strings.Contains(r.errOut.String(), "waiting for another e2e run to finish (pid ") {
			waited++
		}
	}
	if t.Failed() {
		return
	}
	a, b := spans[0], spans[1]
	if a.start < b.end && b.start < a.end {
		t.Errorf("the runs used the hosts at the same time: %v and %v", a, b)
	}
	if waited != 1 {
		t.Errorf("%d runs said they were waiting for the other, want 1", waited)
	}
}

// TestHelperOneRun is one e2e run for TestTwoRunsAtOnceTakeTurns: hosts
// up, used for a few seconds (every command must work), hosts down.
func TestHelperOneRun(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestTwoRunsAtOnceTakeTurns, not a test by itself")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	hosts, err := Up(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if _, errOut, code, err := Exec(ctx, hosts[0], "hostname"); err != nil || code != 0 {
			t.Fatalf("exec on %s while this run holds it: exit %d, %v, %s", hosts[0].Name, code, err, errOut)
		}
		time.Sleep(250 * time.Millisecond) // pacing a steady use of the host, not waiting for an effect
	}
	end := time.Now()
	if err := Down(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("SPAN %d %d\n", start.UnixNano(), end.UnixNano())
}
