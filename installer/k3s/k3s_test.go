package k3s

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/messages"
)

func stack(ha bool, vip string, roles ...string) *config.Config {
	cfg := &config.Config{Cluster: config.Cluster{Name: "prod"}, Components: config.Components{K3s: &config.K3s{HA: ha, VIP: vip, Disable: []string{"traefik"}}}}
	for i, r := range roles {
		cfg.Cluster.Nodes = append(cfg.Cluster.Nodes, config.Node{Hostname: "fe-" + string(rune('1'+i)), Role: r})
	}
	return cfg
}

var addrs = map[string]string{"fe-1": "10.77.0.11", "fe-2": "10.77.0.12", "fe-3": "10.77.0.13", "fe-4": "10.77.0.14"}

func TestPlanOneServerTwoAgents(t *testing.T) {
	p, err := NewPlan(stack(false, "", "control-plane", "worker", "worker"), Options{Addresses: addrs})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Servers()) != 1 || len(p.Agents()) != 2 || p.APIURL() != "https://10.77.0.11:6443" {
		t.Fatalf("plan = %+v", p)
	}
	if s := p.Servers()[0]; s.Init || s.Join != "" {
		t.Fatalf("a single server neither inits HA nor joins: %+v", s)
	}
	for _, a := range p.Agents() {
		if a.Join != "https://10.77.0.11:6443" {
			t.Fatalf("agent %s joins %q", a.Host, a.Join)
		}
	}
}

func TestPlanHAFirstInitsOthersJoinTheVIP(t *testing.T) {
	p, err := NewPlan(stack(true, "10.77.0.100", "control-plane", "control-plane", "control-plane", "worker"), Options{Addresses: addrs})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Servers()
	if !s[0].Init || s[0].Join != "" || s[1].Join != "https://10.77.0.100:6443" || s[2].Init {
		t.Fatalf("servers = %+v", s)
	}
	if p.APIAddress != "10.77.0.100" {
		t.Fatalf("API address = %s, want the VIP", p.APIAddress)
	}
	if !strings.Contains(strings.Join(p.TLSSANs, ","), "10.77.0.100") {
		t.Fatalf("VIP not a TLS SAN: %v", p.TLSSANs)
	}
}

func TestPlanRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		cfg  *config.Config
		o    Options
		want string
	}{
		"no control plane":    {stack(false, "", "worker"), Options{Addresses: addrs}, "no control-plane node"},
		"two servers, no ha":  {stack(false, "", "control-plane", "control-plane"), Options{Addresses: addrs}, "ha is false"},
		"unknown address":     {stack(false, "", "control-plane"), Options{}, "foundry host add"},
		"no k3s in the stack": {&config.Config{}, Options{}, "components.k3s"},
	} {
		if _, err := NewPlan(c.cfg, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	p, err := NewPlan(stack(false, "", "control-plane", "control-plane", "worker"), Options{Addresses: addrs, SingleNode: true})
	if err != nil || len(p.Nodes) != 1 {
		t.Fatalf("--single-node keeps the first server only: %+v, %v", p.Nodes, err)
	}
}

// The config must be YAML k3s reads, carry no secret, and be the same
// bytes on every render (re-runs change nothing).
func TestConfigYAML(t *testing.T) {
	cfg := stack(true, "", "control-plane", "control-plane", "worker")
	cfg.Cluster.Nodes[2].Labels = map[string]string{"zone": "b", "disk": "ssd"}
	cfg.Cluster.Nodes[2].Taints = []string{"dedicated=db:NoSchedule"}
	cfg.Components.K3s.ClusterCIDR = "10.42.0.0/16"
	p, err := NewPlan(cfg, Options{Addresses: addrs})
	if err != nil {
		t.Fatal(err)
	}
	var first, joiner, agent map[string]any
	for i, out := range []*map[string]any{&first, &joiner, &agent} {
		text := ConfigYAML(p, p.Nodes[i])
		if text != ConfigYAML(p, p.Nodes[i]) {
			t.Fatal("rendering is not stable")
		}
		if err := yaml.Unmarshal([]byte(text), out); err != nil {
			t.Fatalf("node %d: %v\n%s", i, err, text)
		}
	}
	if first["cluster-init"] != true || first["server"] != nil || first["token-file"] != "/etc/rancher/k3s/token" {
		t.Fatalf("first server: %v", first)
	}
	if joiner["server"] != "https://10.77.0.11:6443" || joiner["cluster-init"] != nil {
		t.Fatalf("joining server: %v", joiner)
	}
	if agent["tls-san"] != nil || agent["disable"] != nil || agent["node-ip"] != "10.77.0.13" {
		t.Fatalf("agent config has server keys: %v", agent)
	}
	labels, _ := agent["node-label"].([]any)
	if len(labels) != 3 || labels[0] != "disk=ssd" || labels[1] != "foundry.dev/host=fe-3" {
		t.Fatalf("labels = %v", labels)
	}
	if taints, _ := agent["node-taint"].([]any); len(taints) != 1 {
		t.Fatalf("taints = %v", agent["node-taint"])
	}
	if first["cluster-cidr"] != "10.42.0.0/16" {
		t.Fatalf("cluster-cidr = %v", first["cluster-cidr"])
	}
}

func TestRegistriesMirrorEveryPublicRegistry(t *testing.T) {
	if RegistriesYAML("", "") != "" {
		t.Fatal("no registry, no registries.yaml")
	}
	var r struct {
		Mirrors map[string]struct{ Endpoint []string } `yaml:"mirrors"`
		Configs map[string]struct {
			TLS struct {
				CAFile string `yaml:"ca_file"`
			} `yaml:"tls"`
		} `yaml:"configs"`
	}
	if err := yaml.Unmarshal([]byte(RegistriesYAML("10.77.0.11:5000", "/etc/foundry/ca.pem")), &r); err != nil {
		t.Fatal(err)
	}
	for _, reg := range []string{"docker.io", "ghcr.io", "quay.io", "registry.k8s.io"} {
		if e := r.Mirrors[reg].Endpoint; len(e) != 1 || e[0] != "https://10.77.0.11:5000" {
			t.Fatalf("%s mirror = %v", reg, e)
		}
	}
	if r.Configs["10.77.0.11:5000"].TLS.CAFile != "/etc/foundry/ca.pem" {
		t.Fatalf("configs = %+v", r.Configs)
	}
}

func TestSpecKeepsTheTokenInASecretFile(t *testing.T) {
	p, _ := NewPlan(stack(false, "", "control-plane", "worker"), Options{Addresses: addrs, Mirror: "10.77.0.11:5000"})
	tok, err := NewToken()
	if err != nil || len(tok) != 64 {
		t.Fatalf("token %q, %v", tok, err)
	}
	art := messages.ArtifactRef{Component: "k3s", Version: "v1.35.4+k3s1", File: "k3s"}
	for _, n := range p.Nodes {
		s := Spec(p, n, "v1.35.4+k3s1", art, tok)
		secrets := 0
		for _, f := range s.Files {
			if strings.Contains(f.Content, tok) != f.Secret {
				t.Fatalf("%s: file %s secret=%v but holds the token=%v", n.Host, f.Name, f.Secret, strings.Contains(f.Content, tok))
			}
			if f.Secret {
				secrets++
			}
		}
		if secrets != 1 || strings.Contains(strings.Join(s.Args, " ")+s.Description+s.Health.URL, tok) {
			t.Fatalf("%s: token outside its file: %+v", n.Host, s)
		}
		want := map[bool]string{true: "server", false: "agent"}[n.Server]
		if len(s.Args) != 1 || s.Args[0] != want {
			t.Fatalf("%s args = %v", n.Host, s.Args)
		}
	}
}
