package standintest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// standinBinary is the k3s stand-in under test: FOUNDRY_E2E_K3S when set
// (make e2e-k3s-standin-test sets it), else what ../build.sh builds. A
// failing build fails the test.
func standinBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FOUNDRY_E2E_K3S"); p != "" {
		return p
	}
	var stderr bytes.Buffer
	cmd := exec.Command("../build.sh")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build k3s stand-in: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// proc is one running stand-in process with its output in a file.
type proc struct {
	cmd  *exec.Cmd
	out  string
	done chan struct{}
	err  error
}

func startProc(t *testing.T, bin, outFile string, env []string, args ...string) *proc {
	t.Helper()
	f, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(append(os.Environ(), "NOTIFY_SOCKET="), env...) // no systemd unless the test is one
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &proc{cmd: cmd, out: outFile, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(30 * time.Second)
		if t.Failed() {
			t.Logf("--- %s (tail)\n%s", filepath.Base(outFile), tail(outFile, 40))
		}
	})
	return p
}

// stop sends SIGTERM and waits; the stand-in must then exit 0.
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("did not stop within %s after SIGTERM", grace)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 500ms until it returns true, the context ends
// (fail), or one of the processes exits (fail, with its log).
func waitFor(ctx context.Context, t *testing.T, what string, procs []*proc, cond func() (bool, error)) {
	t.Helper()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("waiting for %s: %s exited (%v):\n%s", what, filepath.Base(p.out), p.err, tail(p.out, 60))
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last: %v)", what, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// loopbackBase picks 127.0.0.<b> .. <b+3> for this run, varied by pid so
// two runs on one shared machine rarely collide on etcd's fixed ports.
func loopbackBase() int { return 20 + (os.Getpid()%50)*4 }

func loopback(i int) string { return fmt.Sprintf("127.0.0.%d", i) }

// freePort finds a free TCP port on ip.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testDir is t.TempDir, or with STANDIN_KEEP=1 a directory left behind
// (and logged) so the components' logs can be read after a failure.
func testDir(t *testing.T) string {
	if os.Getenv("STANDIN_KEEP") == "" {
		return t.TempDir()
	}
	d, err := os.MkdirTemp("", "standin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("STANDIN_KEEP: files kept in %s", d)
	return d
}

// notifySocket listens like systemd's $NOTIFY_SOCKET and reports each
// datagram on the returned channel.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}
