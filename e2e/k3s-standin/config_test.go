package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestStandinConfigFileAndFlags: config.yaml keys are flag names, lists
// append per element, the CLI overrides the file, unknown keys are ignored.
func TestStandinConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`node-name: from-file
node-ip: 10.77.0.11
tls-san: [a.test, 10.77.0.100]
disable: traefik
node-label: ["a=1", "b=2"]
node-taint: ["k=v:NoSchedule"]
cluster-init: true
https-listen-port: 7443
write-kubeconfig-mode: 644
some-future-k3s-flag: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("K3S_TOKEN", "from-env")
	c, err := loadConfig("server", []string{"-c", cfg, "--node-name", "from-cli"}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "from-cli" {
		t.Errorf("CLI must override the file: node-name %q", c.NodeName)
	}
	if !reflect.DeepEqual(c.TLSSANs, []string{"a.test", "10.77.0.100"}) || !reflect.DeepEqual(c.Disable, []string{"traefik"}) {
		t.Errorf("lists: tls-san %v disable %v", c.TLSSANs, c.Disable)
	}
	if !reflect.DeepEqual(c.NodeLabels, []string{"a=1", "b=2"}) || len(c.NodeTaints) != 1 {
		t.Errorf("labels %v taints %v", c.NodeLabels, c.NodeTaints)
	}
	if !c.ClusterInit || c.HTTPSPort != 7443 || c.WriteKubeconfigMode != "644" || c.Token != "from-env" {
		t.Errorf("cluster-init %v port %d mode %q token %q", c.ClusterInit, c.HTTPSPort, c.WriteKubeconfigMode, c.Token)
	}
	if c.DataDir != "/var/lib/rancher/k3s" {
		t.Errorf("data-dir default %q", c.DataDir)
	}
}

func TestStandinAgentNeedsServerAndToken(t *testing.T) {
	t.Setenv("K3S_URL", "")
	t.Setenv("K3S_TOKEN", "")
	_, err := loadConfig("agent", []string{"-c", filepath.Join(t.TempDir(), "none.yaml"), "--node-ip", "127.0.0.1"}, quietLog())
	if err == nil {
		t.Fatal("agent without server and token must fail")
	}
}

func TestStandinTokenForms(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
	full := nodeToken(ca, "s3cret")
	tok, err := parseToken(full)
	if err != nil || tok.Secret != "s3cret" || tok.CAHash != caHash(ca) {
		t.Fatalf("parse %q: %+v %v", full, tok, err)
	}
	if !strings.HasPrefix(full, "K10") || !strings.Contains(full, "::server:") {
		t.Errorf("node-token form %q", full)
	}
	if tok, err := parseToken("bare"); err != nil || tok.Secret != "bare" || tok.CAHash != "" {
		t.Errorf("bare token: %+v %v", tok, err)
	}
	for _, bad := range []string{"", "K10abc::server:x", "K10" + caHash(ca) + "::nouser"} {
		if _, err := parseToken(bad); err == nil {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}

func TestStandinTaints(t *testing.T) {
	tt, err := parseTaint("dedicated=infra:NoSchedule")
	if err != nil || tt.Key != "dedicated" || tt.Value != "infra" || tt.Effect != "NoSchedule" {
		t.Errorf("%+v %v", tt, err)
	}
	if _, err := parseTaint("k=v:Sometimes"); err == nil {
		t.Error("unknown effect accepted")
	}
}

func TestStandinPodCIDRInsideClusterCIDR(t *testing.T) {
	got := podCIDR("10.42.0.0/16", "fe-1")
	if !strings.HasPrefix(got, "10.42.") || !strings.HasSuffix(got, ".0/24") {
		t.Errorf("podCIDR %q", got)
	}
}
