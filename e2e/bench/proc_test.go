package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time a process has used so far: the sum over its
// threads of /proc/PID/task/TID/schedstat's run time, which has nanosecond
// resolution (utime and stime in /proc/PID/stat count 10 ms ticks, too
// coarse for a 100-host fan-out).
func cpuTime(pid int) time.Duration {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total int64
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // thread exited
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			total += n
		}
	}
	return time.Duration(total)
}

// rss is a process's resident set size in bytes.
func rss(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// child is a child process whose stdout lines are watched for a pattern.
type child struct {
	name  string
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	err   error

	mu  sync.Mutex
	out []string
}

// startChild runs cmd, keeping its stderr in logDir/name.stderr and
// feeding its stdout lines to the lines channel.
func startChild(t testing.TB, name string, cmd *exec.Cmd, logDir string) *child {
	t.Helper()
	stderr, err := os.Create(filepath.Join(logDir, name+".stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	// Children die with the benchmark, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	c := &child{name: name, cmd: cmd, lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.out = append(c.out, sc.Text())
			c.mu.Unlock()
			select {
			case c.lines <- sc.Text():
			default:
			}
		}
		c.err = cmd.Wait()
		stderr.Close()
		close(c.done)
	}()
	t.Cleanup(func() { c.stop(t, 30*time.Second) })
	return c
}

// waitLine waits for a stdout line matching re and returns its submatches.
func (c *child) waitLine(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l := <-c.lines:
			if m := re.FindStringSubmatch(l); m != nil {
				return m, nil
			}
		case <-c.done:
			return nil, fmt.Errorf("%s exited (%v) before printing %q; see %s.stderr", c.name, c.err, re, c.name)
		case <-deadline.C:
			return nil, fmt.Errorf("%s did not print %q within %s", c.name, re, timeout)
		}
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits, then kills.
func (c *child) stop(t testing.TB, grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		t.Logf("%s did not stop within %s of SIGTERM; killing it", c.name, grace)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
