package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/e2e/harness"
	fssh "github.com/foundry-fleet/foundry/installer/ssh"
	xssh "golang.org/x/crypto/ssh"
)

// prompt is a TrustPrompt that records what it was asked.
type prompt struct {
	mu     sync.Mutex
	accept bool
	asked  []string // "host fingerprint"
}

func (p *prompt) ask(host string, _ fssh.PublicKey, fp string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, host+" "+fp)
	return p.accept, nil
}

func (p *prompt) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.asked)
}

// dial connects to h as user with password, checking host keys against kh.
func dial(t *testing.T, h harness.Host, user, password, kh string, trust fssh.TrustPrompt) (*fssh.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := fssh.Dial(ctx, fssh.Options{
		Host: h.IP, User: user, Password: []byte(password),
		KnownHostsFile: kh, TrustPrompt: trust, ConnectTimeout: 5 * time.Second,
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// fingerprint returns the SHA256 fingerprint of an authorized_keys-style line.
func fingerprint(t *testing.T, line string) string {
	t.Helper()
	k, _, _, _, err := xssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatalf("parsing host key %q: %v", line, err)
	}
	return xssh.FingerprintSHA256(k)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPasswordLoginPinsHostKeyOnFirstUseOnEveryHost(t *testing.T) {
	hs := hosts(t)
	ctx := ctxFor(t, 2*time.Minute)
	kh := filepath.Join(t.TempDir(), "known_hosts") // empty: nothing pinned yet
	for _, h := range hs {
		t.Run(h.Name, func(t *testing.T) {
			hostKey, err := harness.HostKey(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			want := fingerprint(t, hostKey)

			accept := &prompt{accept: true}
			start := time.Now()
			c, err := dial(t, h, h.User, h.Password, kh, accept.ask)
			if err != nil {
				t.Fatalf("first connection: %v", err)
			}
			t.Logf("connect + password auth + pin: %s", time.Since(start).Round(time.Millisecond))
			if accept.count() != 1 || accept.asked[0] != h.IP+" "+want {
				t.Fatalf("trust prompt asked %q, want once about %s %s (the host's ed25519 key)", accept.asked, h.IP, want)
			}
			res, err := c.Run(ctx, fssh.Command{Line: "hostname; id -un"})
			if err != nil || res.Stdout != h.Name+"\n"+h.User+"\n" {
				t.Fatalf("hostname; id -un = %q, %v", res.Stdout, err)
			}

			pins, err := os.ReadFile(kh)
			if err != nil {
				t.Fatal(err)
			}
			keyField := strings.Fields(hostKey)[1]
			if !strings.Contains(string(pins), h.IP+" ssh-ed25519 "+keyField+"\n") {
				t.Errorf("known_hosts does not pin %s's ed25519 key:\n%s", h.Name, pins)
			}

			// Pinned now: a prompt that would refuse is never asked.
			refuse := &prompt{accept: false}
			c2, err := dial(t, h, h.User, h.Password, kh, refuse.ask)
			if err != nil {
				t.Fatalf("second connection with a pinned key: %v", err)
			}
			if refuse.count() != 0 {
				t.Errorf("trust prompt asked again for a pinned host: %q", refuse.asked)
			}
			if _, err := c2.Run(ctx, fssh.Command{Line: "true"}); err != nil {
				t.Error(err)
			}
		})
	}
	if st, err := os.Stat(kh); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts: %v, %v; want mode 0600", st, err)
	}
}

func TestChangedHostKeyIsRefusedNamingBothFingerprints(t *testing.T) {
	h := hosts(t)[2]
	ctx := ctxFor(t, 2*time.Minute)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if _, err := dial(t, h, h.User, h.Password, kh, fssh.AcceptNewHostKeys); err != nil {
		t.Fatalf("pinning: %v", err)
	}
	oldKey, err := harness.HostKey(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := harness.Rekey(ctx, h)
	if err != nil {
		t.Fatalf("rekey: %v", err)
	}
	oldFP, newFP := fingerprint(t, oldKey), fingerprint(t, newKey)
	if oldFP == newFP {
		t.Fatalf("rekey kept the key %s", oldFP)
	}
	pinsBefore, _ := os.ReadFile(kh)

	accept := &prompt{accept: true}
	_, err = dial(t, h, h.User, h.Password, kh, accept.ask)
	if !errors.Is(err, fssh.ErrHostKeyChanged) {
		t.Fatalf("connecting after rekey: err = %v, want ErrHostKeyChanged", err)
	}
	t.Logf("error shown to the user: %v", err)
	for _, want := range []string{oldFP, newFP, h.IP, "ssh-keygen -R", kh} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q", want)
		}
	}
	if accept.count() != 0 {
		t.Error("a changed key was offered to the trust prompt")
	}
	if pinsAfter, _ := os.ReadFile(kh); !bytes.Equal(pinsBefore, pinsAfter) {
		t.Errorf("known_hosts changed:\n%s", pinsAfter)
	}

	// The remedy the error gives works: drop the stale pin, pin the new key.
	if out, err := exec.Command("ssh-keygen", "-R", h.IP, "-f", kh).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -R: %v: %s", err, out)
	}
	if _, err := dial(t, h, h.User, h.Password, kh, accept.ask); err != nil {
		t.Fatalf("after removing the stale pin: %v", err)
	}
	if accept.count() != 1 || !strings.HasSuffix(accept.asked[0], newFP) {
		t.Errorf("prompt asked %q, want the new fingerprint %s", accept.asked, newFP)
	}
}

func TestWrongPasswordIsAClearAuthError(t *testing.T) {
	h := hosts(t)[1]
	kh := filepath.Join(t.TempDir(), "known_hosts")
	start := time.Now()
	_, err := dial(t, h, h.User, "not-"+h.Password, kh, fssh.AcceptNewHostKeys)
	t.Logf("rejected after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, fssh.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	for _, want := range []string{h.User, h.Addr(), "password"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), h.Password) {
		t.Error("error contains the password")
	}
}

func TestUnreachableAddressFailsFastWithAClearError(t *testing.T) {
	hosts(t) // the bridge must exist, so the address is routable but empty
	const nobody = "10.77.0.250"
	ctx := ctxFor(t, 20*time.Second)
	start := time.Now()
	_, err := fssh.Dial(ctx, fssh.Options{
		Host: nobody, User: harness.User, Password: []byte(harness.Password),
		KnownHostsFile: filepath.Join(t.TempDir(), "known_hosts"), TrustPrompt: fssh.AcceptNewHostKeys,
		ConnectTimeout: 2 * time.Second,
	})
	took := time.Since(start)
	t.Logf("failed after %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, fssh.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if !strings.Contains(err.Error(), nobody) || !strings.Contains(err.Error(), "port 22") {
		t.Errorf("error %q does not name the address and port", err)
	}
	if took > 5*time.Second {
		t.Errorf("took %s with a 2s connect timeout", took)
	}
}

func TestUserWithoutSudoGetsErrNoSudo(t *testing.T) {
	h := hosts(t)[1]
	ctx := ctxFor(t, time.Minute)
	c, err := dial(t, h, harness.NoSudoUser, harness.Password, filepath.Join(t.TempDir(), "known_hosts"), fssh.AcceptNewHostKeys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx, fssh.Command{Line: "id -un"})
	if err != nil || res.Stdout != harness.NoSudoUser+"\n" {
		t.Fatalf("id -un = %q, %v", res.Stdout, err)
	}
	_, err = c.Run(ctx, fssh.Command{Line: "id -u", Sudo: true})
	t.Logf("error shown to the user: %v", err)
	if !errors.Is(err, fssh.ErrNoSudo) {
		t.Fatalf("sudo as %s: err = %v, want ErrNoSudo", harness.NoSudoUser, err)
	}
	for _, want := range []string{"user " + harness.NoSudoUser, h.Addr(), "sudo group", "--user"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q", want)
		}
	}
}

func TestSudoWithPasswordRunsAsRootAndKeepsThePasswordOutOfTheProcessList(t *testing.T) {
	h := hosts(t)[0]
	ctx := ctxFor(t, 2*time.Minute)
	c, err := dial(t, h, h.User, h.Password, filepath.Join(t.TempDir(), "known_hosts"), fssh.AcceptNewHostKeys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx, fssh.Command{Line: "id -u", Sudo: true})
	if err != nil || res.Stdout != "0\n" {
		t.Fatalf("sudo id -u = %q, %v", res.Stdout, err)
	}
	res, err = c.Run(ctx, fssh.Command{Line: "cat", Stdin: strings.NewReader("payload after the password\n"), Sudo: true})
	if err != nil || res.Stdout != "payload after the password\n" {
		t.Fatalf("sudo cat = %q, %v; the command must see only its own stdin", res.Stdout, err)
	}

	// While a sudo command runs, look at every process's arguments and
	// environment from inside the host.
	const marker = "sleep 3.321"
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, fssh.Command{Line: marker, Sudo: true})
		done <- err
	}()
	var ps string
	eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		out, _, code, err := harness.Exec(ctx, h, "ps -eo args")
		if err != nil || code != 0 {
			return fmt.Errorf("ps: exit %d, %v", code, err)
		}
		if !strings.Contains(out, "sudo -k -S -p ") || !strings.Contains(out, "\n"+marker+"\n") {
			return fmt.Errorf("sudo and %q not both running yet:\n%s", marker, out)
		}
		ps = out
		return nil
	})
	if strings.Contains(ps, h.Password) {
		t.Errorf("the sudo password is in the process list:\n%s", ps)
	}
	env := harness.MustExec(t, ctx, h, "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'")
	if strings.Contains(env, h.Password) {
		t.Error("the sudo password is in a process environment")
	}
	if strings.Contains(harness.MustExec(t, ctx, h, "journalctl -q --no-pager -o cat 2>/dev/null || true"), h.Password) {
		t.Error("the sudo password is in the journal")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sudo %s: %v", marker, err)
		}
	case <-ctx.Done():
		t.Fatal("sudo sleep did not finish")
	}
}

func TestUploadTenMegabytesWithSudo(t *testing.T) {
	h := hosts(t)[0]
	ctx := ctxFor(t, 2*time.Minute)
	c, err := dial(t, h, h.User, h.Password, filepath.Join(t.TempDir(), "known_hosts"), fssh.AcceptNewHostKeys)
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 10<<20)
	rng := rand.NewChaCha8([32]byte{'f', 'o', 'u', 'n', 'd', 'r', 'y'})
	_, _ = rng.Read(content)
	sum := sha256.Sum256(content)
	const dst = "/usr/local/bin/x"
	t.Cleanup(func() { _, _, _, _ = harness.Exec(context.Background(), h, "rm -f "+dst) })

	start := time.Now()
	if err := fssh.Upload(ctx, c, dst, 0o755, "root:root", bytes.NewReader(content), true); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("10 MiB uploaded with sudo in %s (%.1f MiB/s)", took.Round(time.Millisecond), 10/took.Seconds())

	got := harness.MustExec(t, ctx, h, "sha256sum "+dst+" | cut -d' ' -f1; stat -c '%a %U:%G %s' "+dst+"; ls -a /usr/local/bin")
	want := hex.EncodeToString(sum[:]) + "\n755 root:root " + fmt.Sprint(len(content)) + "\n"
	if !strings.HasPrefix(got, want) {
		t.Errorf("from inside the host:\n%s\nwant it to start with:\n%s", got, want)
	}
	if strings.Contains(got, ".foundry-upload.") {
		t.Errorf("temporary file left in /usr/local/bin:\n%s", got)
	}
}

func TestGeneratedKeyAllowsKeyOnlyLogin(t *testing.T) {
	h := hosts(t)[1]
	ctx := ctxFor(t, 2*time.Minute)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	c, err := dial(t, h, h.User, h.Password, kh, fssh.AcceptNewHostKeys)
	if err != nil {
		t.Fatal(err)
	}
	privPEM, authLine, err := fssh.GenerateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	// Install it the way the bootstrap will: over SSH, key on stdin.
	home := "/home/" + h.User
	t.Cleanup(func() { _, _, _, _ = harness.Exec(context.Background(), h, "rm -rf "+home+"/.ssh") })
	if _, err := c.Run(ctx, fssh.Command{Line: "install -d -m 700 " + home + "/.ssh"}); err != nil {
		t.Fatal(err)
	}
	if err := fssh.Upload(ctx, c, home+"/.ssh/authorized_keys", 0o600, "", strings.NewReader(authLine+"\n"), false); err != nil {
		t.Fatal(err)
	}

	// Key only: no password at all, host key already pinned, no prompt.
	kc, err := fssh.Dial(ctx, fssh.Options{Host: h.IP, User: h.User, PrivateKey: privPEM, KnownHostsFile: kh, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("key-only login: %v", err)
	}
	defer kc.Close()
	res, err := kc.Run(ctx, fssh.Command{Line: "id -un"})
	if err != nil || res.Stdout != h.User+"\n" {
		t.Fatalf("id -un = %q, %v", res.Stdout, err)
	}
	// With no password known, sudo (which asks for one) is refused clearly.
	if _, err := kc.Run(ctx, fssh.Command{Line: "true", Sudo: true}); !errors.Is(err, fssh.ErrNoSudo) {
		t.Errorf("sudo without a password: err = %v, want ErrNoSudo", err)
	}

	// Another host's key does not open this host.
	otherPEM, _, _ := fssh.GenerateHostKey()
	_, err = fssh.Dial(ctx, fssh.Options{Host: h.IP, User: h.User, PrivateKey: otherPEM, KnownHostsFile: kh, ConnectTimeout: 5 * time.Second})
	if !errors.Is(err, fssh.ErrAuth) {
		t.Errorf("another key: err = %v, want ErrAuth", err)
	}
}
