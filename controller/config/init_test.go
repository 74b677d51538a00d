package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func initOpts() InitOptions {
	return InitOptions{
		Name:   "prod",
		Domain: "Example.com",
		Hosts: []HostSpec{
			{Hostname: "node1.example.com", Address: "192.168.1.10"},
			{Hostname: "node2.example.com"},
		},
	}
}

func TestInitWritesAValidPrivateFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "home", "prod.yaml")
	res, err := Init(p, initOpts(), false)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v, want 0600", fi.Mode(), err)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if ps := f.Validate(); len(ps) != 0 {
		t.Fatalf("generated config has problems:\n%s", ps)
	}
	c := f.Config
	if c.Cluster.Nodes[0].Role != RoleControlPlane || c.Cluster.Nodes[1].Role != RoleWorker {
		t.Fatalf("default roles: %+v", c.Cluster.Nodes)
	}
	if c.Cluster.Domain != "example.com" {
		t.Fatalf("domain not lower-cased: %q", c.Cluster.Domain)
	}
	if got := c.Components.Grafana.AdminPassword; got != "${secret:foundry/grafana:admin_password}" {
		t.Fatalf("grafana password is %q, want a reference", got)
	}
	if c.Foundry.SSHKeys != "openbao" || c.Foundry.OpenBAO.Address != "https://node1.example.com:8200" {
		t.Fatalf("foundry section: %+v", c.Foundry)
	}
	if len(res.Added) != 0 {
		t.Fatalf("default components need nothing added: %v", res.Added)
	}
	data, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(data), "# Foundry stack configuration") {
		t.Fatalf("no header comment:\n%s", data)
	}
}

func TestInitPutsTheRegistryOnTheControlPlanes(t *testing.T) {
	o := initOpts()
	o.Hosts = []HostSpec{{Hostname: "cp1.example.com", Role: RoleControlPlane}, {Hostname: "w1.example.com", Role: RoleWorker},
		{Hostname: "cp2.example.com", Role: RoleControlPlane}}
	p := filepath.Join(t.TempDir(), "prod.yaml")
	if _, err := Init(p, o, false); err != nil {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Config.Components.Zot.Hosts, ","); got != "cp1.example.com,cp2.example.com" {
		t.Fatalf("zot hosts = %q, want the control planes", got)
	}
	if ps := f.Validate(); len(ps) != 0 {
		t.Fatalf("generated config has problems:\n%s", ps)
	}
}

func TestInitRefusesToOverwriteWithoutForce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prod.yaml")
	if err := os.WriteFile(p, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Init(p, initOpts(), false)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "mine" {
		t.Fatal("file was modified")
	}
	if _, err := Init(p, initOpts(), true); err != nil {
		t.Fatalf("with force: %v", err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("forced file mode %v", fi.Mode())
	}
}

func TestInitAddsMissingDependencies(t *testing.T) {
	o := initOpts()
	o.Components = []string{"velero", "grafana"}
	data, added, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(added, ",")
	for _, c := range []string{"k3s", "openbao", "prometheus", "minio"} {
		if !strings.Contains(got, c) {
			t.Errorf("added %v lacks %s", added, c)
		}
	}
	f, err := Parse("x.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if ps := f.Validate(); len(ps) != 0 {
		t.Fatalf("problems:\n%s", ps)
	}
}

func TestInitRejectsBadOptions(t *testing.T) {
	cases := []struct {
		mutate func(*InitOptions)
		want   string
	}{
		{func(o *InitOptions) { o.Name = "Prod X" }, `cluster name "Prod X"`},
		{func(o *InitOptions) { o.Domain = "" }, `domain ""`},
		{func(o *InitOptions) { o.Hosts = nil }, "no hosts given"},
		{func(o *InitOptions) { o.Hosts[1].Hostname = "node1.example.com" }, "given twice"},
		{func(o *InitOptions) { o.Hosts[1].Hostname = "bad_host" }, `host "bad_host"`},
		{func(o *InitOptions) { o.Hosts[1].Address = "nope" }, `address "nope"`},
		{func(o *InitOptions) { o.Hosts[1].Role = "master" }, `role "master"`},
		{func(o *InitOptions) { o.Components = []string{"traefik"} }, `unknown component "traefik"`},
		{func(o *InitOptions) { o.Components = []string{"external-dns"} }, "--dns-provider"},
		{func(o *InitOptions) { o.OpenBAOAddress = "openbao:8200" }, "is not a URL"},
	}
	for _, c := range cases {
		o := initOpts()
		c.mutate(&o)
		if _, _, err := Render(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error containing %q, got %v", c.want, err)
		}
	}
}

func TestInitWithExternalDNSProvider(t *testing.T) {
	o := initOpts()
	o.Components = []string{"external-dns"}
	o.DNSProvider = "cloudflare"
	if _, _, err := Render(o); err != nil {
		t.Fatal(err)
	}
}
