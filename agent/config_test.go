package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodKey = "ed25519:ZjrKQ3jnhqIYjOeAX2UmBTGD9IOEJuH4oiL+PvSW2wE="

func TestRenderConfigRoundTrips(t *testing.T) {
	in := Config{ID: "web-1", URLs: []string{"tls://10.77.0.1:4222"}, CAFile: "/etc/foundry/ca.pem",
		NKeyFile: "/etc/foundry/agent.nk", TrustedKeys: []string{goodKey}, Heartbeat: 10 * time.Second}
	b, err := RenderConfig(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Written by foundry; re-run ` + "`foundry host configure`" + ` instead of editing.
id: web-1
controller_urls:
  - tls://10.77.0.1:4222
ca_file: /etc/foundry/ca.pem
nkey_file: /etc/foundry/agent.nk
trusted_keys:
  - ` + goodKey + `
heartbeat: 10s
`
	if string(b) != want {
		t.Fatalf("rendered:\n%s\nwant:\n%s", b, want)
	}
	out, err := ParseConfig(b)
	if err != nil || out.ID != in.ID || out.Heartbeat != in.Heartbeat || out.TrustedKeys[0] != goodKey {
		t.Fatalf("round trip: %+v %v", out, err)
	}
}

func TestParseConfigNamesTheProblem(t *testing.T) {
	base := "id: web-1\ncontroller_urls: [tls://x:4222]\nnkey_file: /k\ntrusted_keys: [" + goodKey + "]\n"
	cases := map[string]struct{ yaml, want string }{
		"malformed":     {"id: [", "invalid YAML"},
		"unknown key":   {base + "colour: blue\n", "field colour not found"},
		"wrong type":    {"id: [1,2]\n", "invalid YAML"},
		"bad id":        {strings.Replace(base, "web-1", "Web.1", 1), "invalid host id"},
		"no urls":       {strings.Replace(base, "controller_urls: [tls://x:4222]\n", "", 1), "controller_urls is empty"},
		"no key file":   {strings.Replace(base, "nkey_file: /k\n", "", 1), "nkey_file is empty"},
		"no trust":      {strings.Replace(base, "trusted_keys: ["+goodKey+"]\n", "", 1), "trusted_keys is empty"},
		"bad trust":     {strings.Replace(base, goodKey, "ed25519:nope", 1), "not a base64 ed25519"},
		"bad heartbeat": {base + "heartbeat: 1ns\n", "out of range"},
		"bad level":     {base + "log_level: loud\n", "log_level"},
		"too large":     {base + "# " + strings.Repeat("x", maxConfigBytes), "more than"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
	if _, err := ParseConfig([]byte(base)); err != nil {
		t.Fatalf("valid base refused: %v", err)
	}
}

func TestLoadConfigAbsentIsErrNoConfig(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, ErrNoConfig) || !strings.Contains(err.Error(), "foundry host add") {
		t.Fatalf("got %v", err)
	}
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("id: ["), 0o644)
	if _, err := LoadConfig(p); err == nil || errors.Is(err, ErrNoConfig) || !strings.Contains(err.Error(), p) {
		t.Fatalf("broken config: %v", err)
	}
}

func TestReconnectDelayGrowsToCapWithJitter(t *testing.T) {
	if d := reconnectDelay(1, 0.5); d != backoffBase {
		t.Fatalf("first delay %s", d)
	}
	if d := reconnectDelay(3, 0.5); d != 9*backoffBase {
		t.Fatalf("third delay %s", d)
	}
	if d := reconnectDelay(1000, 0.5); d != backoffCap {
		t.Fatalf("capped delay %s", d)
	}
	if lo, hi := reconnectDelay(5, 0), reconnectDelay(5, 0.999); lo >= hi || lo < reconnectDelay(5, 0.5)/2 {
		t.Fatalf("jitter range %s..%s", lo, hi)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("id: web-1\ncontroller_urls: [tls://x:4222]\nnkey_file: /k\ntrusted_keys: [" + goodKey + "]\n"))
	f.Add([]byte("heartbeat: -5s\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err == nil {
			if _, err := RenderConfig(cfg); err != nil {
				t.Fatalf("accepted config does not render: %v", err)
			}
		}
	})
}
