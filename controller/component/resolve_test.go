package component

import (
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/messages"
)

func art(c, v, f string, ok bool) messages.Artifact {
	a := messages.Artifact{ArtifactRef: messages.ArtifactRef{Component: c, Version: v, File: f, Size: 10,
		SHA256: strings.Repeat("ab", 32), KeyID: "k1", Sig: []byte("sig")}, Verified: ok}
	if !ok {
		a.Problem = "stored bytes differ from the signed ones; re-import the artifact"
	}
	return a
}

func stack() *config.Config {
	return &config.Config{Components: config.Components{
		OpenBAO: &config.OpenBAO{Hosts: []string{"Bao1.example.com"}, Storage: "file"},
		Zot:     &config.Zot{Version: "2.8.2", Flavor: config.FlavorDistribution, Hosts: []string{"10.77.0.11"}},
	}}
}

func TestResolvePicksTheNewestImportedVersionWhenNoneIsPinned(t *testing.T) {
	arts := []messages.Artifact{art("openbao", "2.1.0", "bao", true), art("openbao", "2.10.0", "bao", true), art("openbao", "9.9.9", "bao", false)}
	tg, err := Resolve(stack(), OpenBAO(), Overrides{}, arts)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Desired.Version != "2.10.0" || tg.Spec.Version != "2.10.0" || tg.Spec.Artifact.Version != "2.10.0" {
		t.Fatalf("version = %q, want the newest verified 2.10.0", tg.Desired.Version)
	}
	if len(tg.Desired.Hosts) != 1 || tg.Desired.Hosts[0] != "bao1-example-com" {
		t.Fatalf("hosts = %v", tg.Desired.Hosts)
	}
	if err := tg.Spec.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tg.Spec.Files[0].Content, `storage "file"`) || tg.Spec.Args[1] != "-config=/etc/foundry/components/openbao/config.hcl" {
		t.Fatalf("spec = %+v", tg.Spec)
	}
}

func TestResolveSaysWhatToDo(t *testing.T) {
	reg := Registry()
	for _, c := range []struct {
		name string
		cfg  *config.Config
		comp Component
		o    Overrides
		arts []messages.Artifact
		want string
	}{
		{"not configured", &config.Config{}, reg, Overrides{}, nil, "add components.zot"},
		{"no hosts", &config.Config{Components: config.Components{Zot: &config.Zot{}}}, reg, Overrides{}, nil, "pass --host"},
		{"nothing imported", stack(), OpenBAO(), Overrides{}, nil, "foundry artifact import openbao <version> <path to bao>"},
		{"version not imported", stack(), reg, Overrides{}, []messages.Artifact{art("zot", "2.8.1", "docker-registry", true)}, "foundry artifact import zot 2.8.2 <path to docker-registry>"},
		{"tampered", stack(), reg, Overrides{}, []messages.Artifact{art("zot", "2.8.2", "docker-registry", false)}, "re-import"},
		{"cluster", stack(), clusterComponents()[0], Overrides{}, nil, "foundry component install minio"},
		{"bad version", stack(), reg, Overrides{Version: "../x"}, nil, "version"},
	} {
		_, err := Resolve(c.cfg, c.comp, c.o, c.arts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestRegistryFlavours(t *testing.T) {
	cfg := stack()
	tg, err := Resolve(cfg, Registry(), Overrides{Hosts: []string{"h1"}}, []messages.Artifact{art("zot", "2.8.2", "docker-registry", true)})
	if err != nil {
		t.Fatal(err)
	}
	if tg.Spec.Artifact.File != "docker-registry" || tg.Spec.Files[0].Name != "config.yml" || !strings.Contains(tg.Spec.Files[0].Content, "rootdirectory: /var/lib/foundry-zot") {
		t.Fatalf("distribution spec = %+v", tg.Spec)
	}
	if tg.Desired.Hosts[0] != "h1" {
		t.Fatalf("--host not applied: %v", tg.Desired.Hosts)
	}
	cfg.Components.Zot.Flavor = ""
	tg, err = Resolve(cfg, Registry(), Overrides{}, []messages.Artifact{art("zot", "2.8.2", "zot", true)})
	if err != nil {
		t.Fatal(err)
	}
	if tg.Spec.Artifact.File != "zot" || tg.Spec.Files[0].Name != "config.json" {
		t.Fatalf("zot spec = %+v", tg.Spec)
	}
}

func TestOpenBAOConfig(t *testing.T) {
	raft, err := OpenBAOConfig("")
	if err != nil || !strings.Contains(raft, `storage "raft"`) || !strings.Contains(raft, "{{ GetPrivateIP }}") {
		t.Fatalf("raft config = %q, %v", raft, err)
	}
	if _, err := OpenBAOConfig("postgresql"); err == nil || !strings.Contains(err.Error(), "use raft or file") {
		t.Fatalf("postgresql: %v", err)
	}
}

func TestOpenBAOReport(t *testing.T) {
	for body, want := range map[string]string{
		`{"initialized":false,"sealed":true,"version":"2.1.0"}`: "uninitialized",
		`{"initialized":true,"sealed":true,"version":"2.1.0"}`:  "sealed",
		`{"initialized":true,"sealed":false,"version":"2.1.0"}`: "unsealed",
	} {
		v, st := openbaoReport(messages.ServiceStatus{HealthStatus: 200, HealthBody: body})
		if v != "2.1.0" || st != want {
			t.Errorf("%s: got %q %q, want 2.1.0 %q", body, v, st, want)
		}
	}
}
