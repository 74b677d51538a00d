// Package harness gives end-to-end tests real Debian hosts: systemd-nspawn
// containers with systemd as PID 1, sshd and their own address on bridge
// fe-br0, run by e2e/testbed/hosts.sh on this machine.
//
// A test package brings the hosts up once in TestMain (Up), asks for them in
// each test (Hosts, which skips with the reason when this machine cannot run
// them) and takes them down at the end (Down; FOUNDRY_E2E_KEEP=1 keeps them
// for debugging). From its first Up to its Down a test process holds the
// machine-wide LockPath, so a second e2e run on the same machine waits
// ("waiting for another e2e run to finish (pid N)") instead of sharing and
// tearing down the first one's hosts. Assertions "from inside a host" go through Exec, which
// enters the container with nsenter: the hosts carry no harness key for
// Foundry's users, so what Foundry does over SSH starts from a bare host.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Accounts every host has. User is in group sudo (sudo asks for the
// password); NoSudoUser is not.
const (
	User       = "admin"
	NoSudoUser = "nosudo"
	Password   = "fleetpass"
	// ControllerIP is this machine's address on the hosts' bridge: bind
	// servers the hosts must reach here.
	ControllerIP = "10.77.0.1"
)

// Host is one test host.
type Host struct {
	Index    int    // 1-based, as hosts.sh numbers them
	Name     string // fe-<Index>, also its hostname
	IP       string // 10.77.0.(10+Index)
	User     string // the sudo user
	Password string // its password
}

// Addr returns the host's SSH address, "IP:22".
func (h Host) Addr() string { return h.IP + ":22" }

var (
	mu      sync.Mutex
	running []Host // hosts this process saw up, by index-1
	started bool   // this process started at least one host
	upErr   error  // the last failed Up, returned again to every test
	upN     int    // the n of that failed Up
	held    *machineLock
)

// Unavailable returns why this machine cannot run the hosts, with how to fix
// it, or "" when it can.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "e2e hosts need root (systemd-nspawn, network namespaces, overlay mounts): run `make e2e` or `sudo -E go test ./e2e/...`"
	}
	var missing, pkgs []string
	for _, need := range []struct{ bin, pkg string }{
		{"debootstrap", "debootstrap"},
		{"systemd-nspawn", "systemd-container"},
		{"nsenter", "util-linux"},
		{"ip", "iproute2"},
		{"ssh-keygen", "openssh-client"},
		{"flock", "util-linux"},
	} {
		if _, err := exec.LookPath(need.bin); err != nil {
			missing = append(missing, need.bin)
			pkgs = appendUnique(pkgs, need.pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("e2e hosts need %s, not found in PATH: install with `apt-get install -y %s`",
			strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
	if _, err := Script(); err != nil {
		return err.Error()
	}
	return ""
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// Script returns the path of hosts.sh: $FOUNDRY_E2E_HOSTS_SH, else
// e2e/testbed/hosts.sh found from the working directory upwards or next to
// this source file.
func Script() (string, error) {
	if p := os.Getenv("FOUNDRY_E2E_HOSTS_SH"); p != "" {
		return p, nil
	}
	rel := filepath.Join("e2e", "testbed", "hosts.sh")
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if p := filepath.Join(d, rel); isFile(p) {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		if p := filepath.Join(filepath.Dir(file), "..", "testbed", "hosts.sh"); isFile(p) {
			return filepath.Clean(p), nil
		}
	}
	return "", errors.New("e2e/testbed/hosts.sh not found: run from the repository or set FOUNDRY_E2E_HOSTS_SH")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Keep reports whether FOUNDRY_E2E_KEEP=1 asks to leave the hosts running.
func Keep() bool { return os.Getenv("FOUNDRY_E2E_KEEP") == "1" }

// Up makes sure hosts 1..n run and are ready, starting the missing ones. It
// is idempotent and cheap when they already run. The first run on a machine
// debootstraps the base (a minute or two, then cached).
func Up(ctx context.Context, n int) ([]Host, error) {
	mu.Lock()
	defer mu.Unlock()
	return upLocked(ctx, n)
}

func upLocked(ctx context.Context, n int) ([]Host, error) {
	if n < 1 || n > 240 {
		return nil, fmt.Errorf("harness: %d hosts: want 1..240", n)
	}
	if len(running) >= n {
		return append([]Host(nil), running[:n]...), nil
	}
	if held == nil {
		l, err := lockMachine(ctx, 30*time.Second)
		if err != nil {
			return nil, err
		}
		held = l
	}
	out, errOut, code, err := script(ctx, "up", strconv.Itoa(n))
	if err == nil && code != 0 {
		err = fmt.Errorf("hosts.sh up %d exited %d: %s", n, code, lastLines(errOut, 15))
	}
	if err != nil {
		// Some hosts may have started: let Down clean up.
		upErr, upN, started = err, n, true
		return nil, err
	}
	hosts := make([]Host, 0, n)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// fe-1 10.77.0.11 running [started]
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[0], "fe-") {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(f[0], "fe-"))
		if err != nil {
			continue
		}
		if len(f) > 3 && f[3] == "started" {
			started = true
		}
		hosts = append(hosts, Host{Index: i, Name: f[0], IP: f[1], User: User, Password: Password})
	}
	if len(hosts) != n {
		err := fmt.Errorf("hosts.sh up %d reported %d hosts: %q", n, len(hosts), out)
		upErr, upN = err, n
		return nil, err
	}
	running, upErr = hosts, nil
	return append([]Host(nil), hosts...), nil
}

// Hosts returns hosts 1..n for a test, bringing them up if needed. It skips
// the test, saying why, when this machine cannot run hosts, and fails it
// when bringing them up failed.
func Hosts(t testing.TB, n int) []Host {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		t.Skip(reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if upErr != nil && n <= upN {
		t.Fatalf("e2e hosts are not up: %v", upErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	hosts, err := upLocked(ctx, n)
	if err != nil {
		t.Fatalf("bringing up %d e2e hosts: %v", n, err)
	}
	return hosts
}

// Down removes all hosts, their network and cgroups (the cached base stays),
// unless FOUNDRY_E2E_KEEP=1 or this process started none of them: hosts
// somebody else brought up are left alone.
func Down(ctx context.Context) error {
	mu.Lock()
	defer mu.Unlock()
	defer func() { held.release(); held = nil }()
	switch {
	case len(running) == 0 && !started:
		return nil
	case Keep():
		fmt.Fprintln(os.Stderr, "harness: FOUNDRY_E2E_KEEP=1: hosts left running; `e2e/testbed/hosts.sh down` removes them")
		return nil
	case !started:
		fmt.Fprintln(os.Stderr, "harness: the hosts ran before this test process started: left running")
		return nil
	}
	start := time.Now()
	_, errOut, code, err := script(ctx, "down")
	running, started = nil, false
	if err == nil && code == 0 {
		fmt.Fprintf(os.Stderr, "harness: hosts down in %s\n", time.Since(start).Round(10*time.Millisecond))
	}
	if err == nil && code != 0 {
		err = fmt.Errorf("hosts.sh down exited %d: %s", code, lastLines(errOut, 15))
	}
	return err
}

// Exec runs cmd with sh -c inside host h, as root, through nsenter (not
// SSH). exit is cmd's exit status; err is only for failing to run it.
func Exec(ctx context.Context, h Host, cmd string) (stdout, stderr string, exit int, err error) {
	stdout, stderr, exit, err = script(ctx, "exec", strconv.Itoa(h.Index), "sh", "-c", cmd)
	if err == nil && exit == 125 && strings.Contains(stderr, "is not running") {
		err = fmt.Errorf("%s is not running", h.Name)
	}
	return stdout, stderr, exit, err
}

// MustExec is Exec for assertions: it fails t unless cmd exits 0, and
// returns its stdout.
func MustExec(t testing.TB, ctx context.Context, h Host, cmd string) string {
	t.Helper()
	out, errOut, code, err := Exec(ctx, h, cmd)
	if err != nil || code != 0 {
		t.Fatalf("on %s: %q: exit %d, err %v, stderr %s", h.Name, cmd, code, err, errOut)
	}
	return out
}

// HostKey returns host h's ed25519 public host key line
// ("ssh-ed25519 AAAA… root@fe-1").
func HostKey(ctx context.Context, h Host) (string, error) {
	return scriptOK(ctx, "hostkey", strconv.Itoa(h.Index))
}

// Rekey gives host h new host keys and restarts its sshd: the "host key
// changed" scenario. It returns the new ed25519 host key line.
func Rekey(ctx context.Context, h Host) (string, error) {
	return scriptOK(ctx, "rekey", strconv.Itoa(h.Index))
}

// Reset recreates host h from the base: a bare host again, with a new
// machine-id and new host keys.
func Reset(ctx context.Context, h Host) error {
	_, err := scriptOK(ctx, "reset", strconv.Itoa(h.Index))
	return err
}

func scriptOK(ctx context.Context, args ...string) (string, error) {
	out, errOut, code, err := script(ctx, args...)
	if err == nil && code != 0 {
		err = fmt.Errorf("hosts.sh %s exited %d: %s", strings.Join(args, " "), code, lastLines(errOut, 10))
	}
	return strings.TrimSpace(out), err
}

// script runs hosts.sh with args. The whole process group is killed when ctx
// ends: nsenter forks into the host's pid namespace.
func script(ctx context.Context, args ...string) (stdout, stderr string, exit int, err error) {
	path, err := Script()
	if err != nil {
		return "", "", -1, err
	}
	cmd := exec.CommandContext(ctx, "bash", append([]string{path}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return o.String(), e.String(), -1, fmt.Errorf("hosts.sh %s: %w", args[0], ctx.Err())
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode(), nil
	case err != nil:
		return o.String(), e.String(), -1, fmt.Errorf("hosts.sh %s: %w", args[0], err)
	}
	return o.String(), e.String(), 0, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
