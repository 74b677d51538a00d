package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

func TestNewCmdListParsesArgs(t *testing.T) {
	s := newStreams()
	var got *ListOptions
	cmd := NewCmdList(factory(s, t.TempDir()), func(o *ListOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"foundry/", "--json"})
	if err := cmd.Execute(); err != nil || got.Path != "foundry" || !got.JSON {
		t.Fatalf("%v %+v", err, got)
	}
	cmd = NewCmdList(factory(s, t.TempDir()), func(*ListOptions) error { return nil })
	cmd.SetArgs([]string{"a//b"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	var fe *cmdutil.FlagError
	if err := cmd.Execute(); !errors.As(err, &fe) {
		t.Fatalf("err = %v", err)
	}
}

func TestListRun(t *testing.T) {
	b := startBao(t)
	b.put(t, "foundry/grafana", map[string]any{"k": "v"})
	b.put(t, "foundry/ssh-keys/node1", map[string]any{"k": "v"})

	s := newStreams()
	if err := listRun(&ListOptions{IO: s.io, Bao: b.client(t, rootToken), Path: "foundry"}); err != nil {
		t.Fatal(err)
	}
	if want := "foundry/grafana\nfoundry/ssh-keys/\n"; s.stdout.String() != want {
		t.Fatalf("piped %q, want %q", s.stdout, want)
	}

	s = newStreams()
	s.io.SetTTY(false, true)
	if err := listRun(&ListOptions{IO: s.io, Bao: b.client(t, rootToken)}); err != nil {
		t.Fatal(err)
	}
	if want := "PATH\nfoundry/\n"; s.stdout.String() != want {
		t.Fatalf("tty %q, want %q", s.stdout, want)
	}

	s = newStreams()
	if err := listRun(&ListOptions{IO: s.io, Bao: b.client(t, rootToken), Path: "foundry", JSON: true}); err != nil {
		t.Fatal(err)
	}
	var got listJSON
	if err := json.Unmarshal(s.stdout.Bytes(), &got); err != nil || strings.Join(got.Keys, ",") != "grafana,ssh-keys/" {
		t.Fatalf("%v %+v", err, got)
	}

	s = newStreams()
	s.io.SetTTY(false, true)
	if err := listRun(&ListOptions{IO: s.io, Bao: b.client(t, rootToken), Path: "nothing"}); err != nil {
		t.Fatalf("no results must exit 0: %v", err)
	}
	if !strings.Contains(s.stderr.String(), "No secrets under") {
		t.Fatalf("stderr %q", s.stderr)
	}
}

func TestListRunSealed(t *testing.T) {
	b := startBao(t)
	b.srv.Seal()
	s := newStreams()
	err := listRun(&ListOptions{IO: s.io, Bao: b.client(t, rootToken), Path: "foundry"})
	if !errors.Is(err, secrets.ErrSealed) {
		t.Fatalf("err = %v", err)
	}
}

// testDeps builds the real dependency wiring around a temp home, a fake
// environment and a keyring that is unavailable (as on this machine).
func testDeps(t *testing.T, s streams, env map[string]string) *deps {
	d := newDeps(factory(s, t.TempDir()))
	d.getenv = func(k string) string { return env[k] }
	d.lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	d.keyring = brokenKeyring{}
	return d
}

func TestLoginRunStoresTokenAndSaysWhere(t *testing.T) {
	b := startBao(t)
	s := newStreams()
	d := testDeps(t, s, map[string]string{"BAO_ADDR": b.url})
	s.in.WriteString(rootToken + "\n")
	if err := loginRun(&LoginOptions{IO: s.io, Bao: d.anon, Tokens: d.tokens}); err != nil {
		t.Fatal(err)
	}
	home, _ := d.home()
	file := filepath.Join(home, "openbao-token")
	out := s.stderr.String()
	for _, want := range []string{
		"Logged in to OpenBAO at " + b.url + " as root (policies: root).",
		"Token stored in file " + file + " (OS keyring unavailable: no D-Bus secret service).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, rootToken) || s.stdout.Len() != 0 {
		t.Fatalf("token printed: %q %q", out, s.stdout)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", fi, err)
	}
	// Later commands use the stored token.
	c, err := d.bao()
	if err != nil {
		t.Fatal(err)
	}
	if err := listRun(&ListOptions{IO: newStreams().io, Bao: func() (*secrets.BaoClient, error) { return c, nil }}); err != nil {
		t.Fatalf("list with stored token: %v", err)
	}
}

func TestLoginRunRejectsBadTokenAndStoresNothing(t *testing.T) {
	b := startBao(t)
	s := newStreams()
	d := testDeps(t, s, map[string]string{"BAO_ADDR": b.url})
	s.in.WriteString("not-a-token\n")
	err := loginRun(&LoginOptions{IO: s.io, Bao: d.anon, Tokens: d.tokens})
	if !errors.Is(err, secrets.ErrTokenInvalid) || !strings.Contains(err.Error(), "valid token") {
		t.Fatalf("err = %v", err)
	}
	home, _ := d.home()
	if _, err := os.Stat(filepath.Join(home, "openbao-token")); !os.IsNotExist(err) {
		t.Fatalf("a rejected token was stored: %v", err)
	}
}

func TestLoginRunAgainstSealedOrDeadOpenBAO(t *testing.T) {
	b := startBao(t)
	b.srv.Seal()
	for addr, kind := range map[string]error{b.url: secrets.ErrSealed, deadAddress(t): secrets.ErrUnreachable} {
		s := newStreams()
		d := testDeps(t, s, map[string]string{"BAO_ADDR": addr})
		s.in.WriteString(rootToken + "\n")
		if err := loginRun(&LoginOptions{IO: s.io, Bao: d.anon, Tokens: d.tokens}); !errors.Is(err, kind) {
			t.Errorf("%s: err = %v, want %v", addr, err, kind)
		}
	}
}

func TestLoginRunNoInput(t *testing.T) {
	b := startBao(t)
	s := newStreams()
	d := testDeps(t, s, map[string]string{"BAO_ADDR": b.url})
	if err := loginRun(&LoginOptions{IO: s.io, Bao: d.anon, Tokens: d.tokens}); err == nil || !strings.Contains(err.Error(), "no token given") {
		t.Fatalf("err = %v", err)
	}
}

func TestDepsAddressPrecedence(t *testing.T) {
	s := newStreams()
	cfg := "version: \"1.0\"\ncluster: {name: prod, domain: example.com, nodes: [{hostname: n1.example.com, role: control-plane}]}\n" +
		"foundry: {openbao: {address: \"https://bao.example.com:8200\", mount: kv}}\n"

	// The config beats BAO_ADDR.
	d := testDeps(t, s, map[string]string{"BAO_ADDR": "http://env:8200"})
	home, _ := d.home()
	if err := os.WriteFile(filepath.Join(home, "prod.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if a, m, err := d.address(); err != nil || a != "https://bao.example.com:8200" || m != "kv" {
		t.Fatalf("config: %q %q %v", a, m, err)
	}

	// No config: BAO_ADDR, then VAULT_ADDR.
	d = testDeps(t, s, map[string]string{"VAULT_ADDR": "http://vault:8200"})
	if a, m, err := d.address(); err != nil || a != "http://vault:8200" || m != secrets.DefaultMount {
		t.Fatalf("env: %q %q %v", a, m, err)
	}

	// Nothing at all.
	d = testDeps(t, s, nil)
	if _, _, err := d.address(); !errors.Is(err, errNoAddress) || !strings.Contains(err.Error(), "BAO_ADDR") {
		t.Fatalf("nothing: %v", err)
	}

	// Several configs, none chosen, no env: say choose.
	d = testDeps(t, s, nil)
	home, _ = d.home()
	for _, n := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(home, n), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := d.address(); !errors.Is(err, stackconfig.ErrAmbiguousConfig) {
		t.Fatalf("ambiguous: %v", err)
	}
}

func TestDepsBaoPrefersEnvTokenAndRefusesReadableTokenFile(t *testing.T) {
	b := startBao(t)
	s := newStreams()
	d := testDeps(t, s, map[string]string{"BAO_ADDR": b.url})
	home, _ := d.home()
	p := filepath.Join(home, "openbao-token")
	if err := os.WriteFile(p, []byte(rootToken+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.bao(); !errors.Is(err, secrets.ErrInsecureFile) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v", err)
	}
	d = testDeps(t, s, map[string]string{"BAO_ADDR": b.url, "BAO_TOKEN": rootToken})
	c, err := d.bao()
	if err != nil || !c.HasToken() {
		t.Fatalf("BAO_TOKEN: %v", err)
	}
	// No token anywhere: a client that says "log in" on first use.
	d = testDeps(t, s, map[string]string{"BAO_ADDR": b.url})
	c, err = d.bao()
	if err != nil || c.HasToken() {
		t.Fatalf("no token: %v", err)
	}
}
