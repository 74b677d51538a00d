package ssh

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const testPassword = "fleetpass"

type promptLog struct {
	calls  int
	accept bool
	host   string
	fp     string
}

func (p *promptLog) prompt(host string, key PublicKey, fp string) (bool, error) {
	p.calls++
	p.host, p.fp = host, fp
	return p.accept, nil
}

func dialTest(t *testing.T, s *testServer, kh string, prompt TrustPrompt, mod func(*Options)) (*Client, error) {
	t.Helper()
	opts := Options{Host: s.host, Port: s.port, User: "admin", Password: []byte(testPassword),
		KnownHostsFile: kh, TrustPrompt: prompt, ConnectTimeout: 5 * time.Second}
	if mod != nil {
		mod(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, opts)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestDialPinsAcceptedKeyThenNeverAsksAgain(t *testing.T) {
	host := newHostSigner(t)
	s := startTestServer(t, host, testPassword, nil)
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts")

	p := &promptLog{accept: true}
	c, err := dialTest(t, s, kh, p.prompt, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantFP := xssh.FingerprintSHA256(host.PublicKey())
	if p.calls != 1 || p.fp != wantFP || p.host != knownhosts.Normalize(s.addr()) {
		t.Errorf("prompt: %+v, want one call with %s", p, wantFP)
	}
	res, err := c.Run(context.Background(), Command{Line: "echo hello"})
	if err != nil || res.Stdout != "hello\n" {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	st, err := os.Stat(kh)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(kh)
	if want := knownhosts.Line([]string{knownhosts.Normalize(s.addr())}, host.PublicKey()) + "\n"; string(b) != want {
		t.Errorf("known_hosts = %q, want %q", b, want)
	}

	// Pinned: a prompt that would refuse is not even asked.
	p2 := &promptLog{accept: false}
	if _, err := dialTest(t, s, kh, p2.prompt, nil); err != nil {
		t.Fatalf("second dial: %v", err)
	}
	if p2.calls != 0 {
		t.Errorf("prompt asked %d times for a pinned host", p2.calls)
	}
}

func TestDialRefusesChangedKeyNamingBothFingerprints(t *testing.T) {
	oldKey, newKey := newHostSigner(t), newHostSigner(t)
	s := startTestServer(t, newKey, testPassword, nil)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr())}, oldKey.PublicKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &promptLog{accept: true}
	_, err := dialTest(t, s, kh, p.prompt, nil)
	if !errors.Is(err, ErrHostKeyChanged) {
		t.Fatalf("err = %v, want ErrHostKeyChanged", err)
	}
	for _, want := range []string{xssh.FingerprintSHA256(oldKey.PublicKey()), xssh.FingerprintSHA256(newKey.PublicKey()), "ssh-keygen -R", kh} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if p.calls != 0 {
		t.Error("a changed key must not be offered to the trust prompt")
	}
	b, _ := os.ReadFile(kh)
	if string(b) != line+"\n" {
		t.Errorf("known_hosts changed to %q", b)
	}
}

func TestDialUnknownHostWithoutPromptOrRejectedIsRefused(t *testing.T) {
	s := startTestServer(t, newHostSigner(t), testPassword, nil)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if _, err := dialTest(t, s, kh, nil, nil); !errors.Is(err, ErrHostKeyUnknown) {
		t.Errorf("no prompt: err = %v, want ErrHostKeyUnknown", err)
	}
	p := &promptLog{accept: false}
	if _, err := dialTest(t, s, kh, p.prompt, nil); !errors.Is(err, ErrHostKeyUnknown) || p.calls != 1 {
		t.Errorf("rejected: err = %v after %d prompts, want ErrHostKeyUnknown after 1", err, p.calls)
	}
	if b, _ := os.ReadFile(kh); len(b) != 0 {
		t.Errorf("known_hosts = %q, want empty", b)
	}
}

func TestDialWrongPasswordIsErrAuthNamingUserAndHost(t *testing.T) {
	s := startTestServer(t, newHostSigner(t), testPassword, nil)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	_, err := dialTest(t, s, kh, AcceptNewHostKeys, func(o *Options) { o.Password = []byte("nope") })
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if !strings.Contains(err.Error(), "admin") || !strings.Contains(err.Error(), s.addr()) {
		t.Errorf("error %q does not name user and host", err)
	}
}

func TestDialClosedPortIsErrUnreachableNamingHostAndPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, err = Dial(context.Background(), Options{Host: "127.0.0.1", Port: port, User: "admin", Password: []byte("x"),
		KnownHostsFile: filepath.Join(t.TempDir(), "kh"), TrustPrompt: AcceptNewHostKeys, ConnectTimeout: 2 * time.Second})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "port "+itoa(port)) {
		t.Errorf("error %q does not name address and port", err)
	}
}

func TestDialRequiresKnownHostsFile(t *testing.T) {
	_, err := Dial(context.Background(), Options{Host: "127.0.0.1", User: "admin", Password: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Errorf("err = %v, want a known_hosts error", err)
	}
}

func TestDialWithGeneratedKey(t *testing.T) {
	privPEM, line, err := GenerateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := xssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	s := startTestServer(t, newHostSigner(t), "", pub)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	c, err := dialTest(t, s, kh, AcceptNewHostKeys, func(o *Options) { o.Password = nil; o.PrivateKey = privPEM })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), Command{Line: "true"}); err != nil {
		t.Fatal(err)
	}
	// another generated key is not accepted
	other, _, _ := GenerateHostKey()
	if _, err := dialTest(t, s, kh, AcceptNewHostKeys, func(o *Options) { o.Password = nil; o.PrivateKey = other }); !errors.Is(err, ErrAuth) {
		t.Errorf("other key: err = %v, want ErrAuth", err)
	}
}

func TestClientRunReportsExitStdinAndCancel(t *testing.T) {
	s := startTestServer(t, newHostSigner(t), testPassword, nil)
	c, err := dialTest(t, s, filepath.Join(t.TempDir(), "kh"), AcceptNewHostKeys, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	_, err = c.Run(ctx, Command{Line: "echo oops >&2; exit 7"})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 7 || ee.Stderr != "oops\n" || ee.Command != "echo oops >&2; exit 7" || ee.Host != s.addr() {
		t.Errorf("err = %#v", err)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	res, err := c.Run(ctx, Command{Line: "wc -c", Stdin: bytes.NewReader(big)})
	if err != nil || strings.TrimSpace(res.Stdout) != itoa(len(big)) {
		t.Errorf("wc -c = %q, %v", res.Stdout, err)
	}

	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Run(cctx, Command{Line: "sleep 30"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled run: err = %v after %s", err, time.Since(start))
	}
	// the connection still works
	if _, err := c.Run(ctx, Command{Line: "true"}); err != nil {
		t.Errorf("after cancel: %v", err)
	}

	c.Close()
	if _, err := c.Run(ctx, Command{Line: "true"}); err == nil {
		t.Error("Run after Close succeeded")
	}
}

func TestUploadOverSSH(t *testing.T) {
	s := startTestServer(t, newHostSigner(t), testPassword, nil)
	c, err := dialTest(t, s, filepath.Join(t.TempDir(), "kh"), AcceptNewHostKeys, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "bin")
	content := bytes.Repeat([]byte{0, 1, 2, 'x', '\n', '\''}, 100000)
	if err := Upload(context.Background(), c, dst, 0o750, "", bytes.NewReader(content), false); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("content differs (%d vs %d bytes), %v", len(got), len(content), err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestPinnedHostWorksWithReadOnlyKnownHostsAndPinsAppendCleanly(t *testing.T) {
	a := startTestServer(t, newHostSigner(t), testPassword, nil)
	b := startTestServer(t, newHostSigner(t), testPassword, nil)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	// a hand-edited file: a comment without a trailing newline
	if err := os.WriteFile(kh, []byte("# mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dialTest(t, a, kh, AcceptNewHostKeys, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dialTest(t, b, kh, AcceptNewHostKeys, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(kh)
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "# mine" {
		t.Fatalf("known_hosts:\n%s", got)
	}
	if err := os.Chmod(kh, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := dialTest(t, a, kh, nil, nil); err != nil {
		t.Errorf("pinned host with a read-only known_hosts: %v", err)
	}
}
