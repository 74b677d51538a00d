package main

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

	"github.com/openbao/openbao/api/v2"
)

// build compiles the binary as an artifact would be built, claiming
// version 2.2.0.
func build(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	bin := filepath.Join(t.TempDir(), "openbao-double")
	out, err := exec.Command(goTool, "build", "-ldflags", "-X main.version=2.2.0", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running server and what it wrote to stderr.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startServer(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// stop sends SIGTERM and wants a clean exit 0 in time.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit 0\nstderr: %s", err, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM\nstderr: %s", p.stderr)
	}
}

// waitHealthy polls /v1/sys/health until it answers or the deadline
// passes.
func waitHealthy(t *testing.T, p *proc, c *api.Client) *api.HealthResponse {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := c.Sys().Health()
		if err == nil {
			return h
		}
		select {
		case err := <-p.done:
			t.Fatalf("server exited: %v\nstderr: %s", err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no health answer within 10s: %v\nstderr: %s", err, p.stderr)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBinary builds the binary once and runs it the ways an installed
// `bao` is run.
func TestBinary(t *testing.T) {
	bin := build(t)
	t.Run("version", func(t *testing.T) { testVersion(t, bin) })
	t.Run("server keeps state across restart", func(t *testing.T) { testServerRestart(t, bin) })
	t.Run("server rejects bad config", func(t *testing.T) { testBadConfig(t, bin) })
}

func testVersion(t *testing.T, bin string) {
	out, err := exec.Command(bin, "version").Output()
	if err != nil || string(out) != "OpenBAO v2.2.0 (TEST DOUBLE)\n" {
		t.Fatalf("version: %q %v", out, err)
	}
}

func testServerRestart(t *testing.T, bin string) {
	dir := t.TempDir()
	addr := freeAddr(t)
	config := filepath.Join(dir, "config.hcl")
	hcl := fmt.Sprintf(`ui = false
disable_mlock = true
listener "tcp" {
  address     = %q
  tls_disable = true
}
storage "file" {
  path = %q
}
`, addr, filepath.Join(dir, "data"))
	if err := os.WriteFile(config, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Address = "http://" + addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	p := startServer(t, bin, "server", "-config="+config)
	h := waitHealthy(t, p, c)
	if h.Version != "2.2.0" || h.Initialized {
		t.Fatalf("first start: %+v, want version 2.2.0, uninitialised", h)
	}
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sys().Unseal(init.KeysB64[0]); err != nil {
		t.Fatal(err)
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("secret").Put(ctx, "x", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	p.stop(t)
	if !strings.Contains(p.stderr.String(), "TEST DOUBLE") {
		t.Fatalf("stderr does not say TEST DOUBLE: %s", p.stderr)
	}

	p = startServer(t, bin, "server", "-config", config) // the other flag form
	if h := waitHealthy(t, p, c); !h.Initialized || !h.Sealed {
		t.Fatalf("after restart: %+v, want initialised and sealed", h)
	}
	if _, err := c.Sys().Unseal(init.KeysB64[0]); err != nil {
		t.Fatal(err)
	}
	got, err := c.KVv2("secret").Get(ctx, "x")
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("secret after restart: %+v %v", got, err)
	}
	p.stop(t)
}

func testBadConfig(t *testing.T, bin string) {
	config := filepath.Join(t.TempDir(), "config.hcl")
	if err := os.WriteFile(config, []byte("ui = false\nseal \"awskms\" {\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "server", "-config="+config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "line 2: unsupported block seal") {
		t.Fatalf("bad config: %v %s, want exit 1 naming line 2", err, out)
	}
}
