package kube

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// k3sKubeconfig is the shape k3s writes to /etc/rancher/k3s/k3s.yaml (the
// CA and key data are placeholders, base64 of short strings).
const k3sKubeconfig = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
`

func TestRewriteServerPointsEveryClusterAtTheServerAndKeepsTheCA(t *testing.T) {
	out, err := RewriteServer([]byte(k3sKubeconfig), "10.77.0.11")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatalf("rewritten kubeconfig does not load: %v\n%s", err, out)
	}
	c := cfg.Clusters["default"]
	if c == nil || c.Server != "https://10.77.0.11:6443" {
		t.Fatalf("cluster default = %+v, want server https://10.77.0.11:6443", c)
	}
	if string(c.CertificateAuthorityData) != "CA-DATA" {
		t.Fatalf("CA data = %q, want it kept", c.CertificateAuthorityData)
	}
	u := cfg.AuthInfos["default"]
	if u == nil || string(u.ClientCertificateData) != "CERT" || string(u.ClientKeyData) != "KEY" {
		t.Fatalf("user = %+v, want the credentials kept", u)
	}
	if cfg.CurrentContext != "default" {
		t.Fatalf("current context = %q, want default kept", cfg.CurrentContext)
	}
}

func TestForClusterRenamesClusterContextAndUser(t *testing.T) {
	out, err := ForCluster([]byte(k3sKubeconfig), "10.77.0.11:16443", "prod")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		t.Fatalf("want one of each, got %d clusters %d users %d contexts", len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}
	ctx := cfg.Contexts["prod"]
	if ctx == nil || ctx.Cluster != "prod" || ctx.AuthInfo != "prod" || cfg.CurrentContext != "prod" {
		t.Fatalf("context = %+v current %q, want all named prod", ctx, cfg.CurrentContext)
	}
	c := cfg.Clusters["prod"]
	if c == nil || c.Server != "https://10.77.0.11:16443" || string(c.CertificateAuthorityData) != "CA-DATA" {
		t.Fatalf("cluster prod = %+v", c)
	}
	if u := cfg.AuthInfos["prod"]; u == nil || string(u.ClientKeyData) != "KEY" {
		t.Fatalf("user prod = %+v", u)
	}
	// The result is a kubeconfig client-go uses as is.
	rc, err := clientcmd.RESTConfigFromKubeConfig(out)
	if err != nil || rc.Host != "https://10.77.0.11:16443" {
		t.Fatalf("REST config host = %v, %v", rc, err)
	}
}

func TestRewriteServerRewritesAllClusters(t *testing.T) {
	two := strings.Replace(k3sKubeconfig, "clusters:\n", `clusters:
- cluster:
    certificate-authority-data: T1RIRVI=
    server: https://127.0.0.1:7443
  name: other
`, 1)
	out, err := RewriteServer([]byte(two), "srv.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := clientcmd.Load(out)
	for name, c := range cfg.Clusters {
		if c.Server != "https://srv.example:6443" {
			t.Errorf("cluster %s server = %s", name, c.Server)
		}
	}
	if string(cfg.Clusters["other"].CertificateAuthorityData) != "OTHER" {
		t.Errorf("other CA not kept")
	}
	// Renaming several entries to one name would lose some: refused.
	if _, err := ForCluster([]byte(two), "srv.example", "prod"); err == nil || !strings.Contains(err.Error(), "2 clusters") {
		t.Fatalf("ForCluster with two clusters: err = %v, want a refusal naming 2 clusters", err)
	}
}

func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"10.77.0.11":            "https://10.77.0.11:6443",
		"10.77.0.11:16443":      "https://10.77.0.11:16443",
		"k3s.example.com":       "https://k3s.example.com:6443",
		"fd00::1":               "https://[fd00::1]:6443",
		"[fd00::1]:7443":        "https://[fd00::1]:7443",
		"https://10.0.0.5":      "https://10.0.0.5:6443",
		"https://10.0.0.5:443/": "https://10.0.0.5:443",
		" 10.77.0.11 ":          "https://10.77.0.11:6443",
	} {
		got, err := ServerURL(in)
		if err != nil || got != want {
			t.Errorf("ServerURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "http://10.0.0.5", "https://", "https://h/path", "a b", "user@host"} {
		if got, err := ServerURL(bad); err == nil {
			t.Errorf("ServerURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestRewriteRejectsGarbageAndEmptyConfigs(t *testing.T) {
	if _, err := RewriteServer([]byte("{not yaml"), "h"); err == nil {
		t.Error("garbage: want an error")
	}
	if _, err := RewriteServer([]byte("apiVersion: v1\nkind: Config\n"), "h"); err == nil || !strings.Contains(err.Error(), "no cluster") {
		t.Errorf("no clusters: err = %v", err)
	}
	if _, err := ForCluster([]byte(k3sKubeconfig), "h", "../x"); err == nil {
		t.Error("bad cluster name: want an error")
	}
}
