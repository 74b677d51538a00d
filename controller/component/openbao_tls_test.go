package component

import (
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
	"github.com/foundry-fleet/foundry/messages"
)

// OpenBAO as installed speaks TLS: the listener names the certificate in
// its config directory and the key where LoadCredential= puts it, and the
// health check uses https trusting Foundry's CA on the host.
func TestOpenBAOListensWithTLS(t *testing.T) {
	for _, storage := range []string{"file", "raft"} {
		hcl, err := OpenBAOConfig(storage)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`tls_cert_file = "/etc/foundry/components/openbao/tls.crt"`,
			`tls_key_file  = "/run/credentials/foundry-openbao.service/tls.key"`,
		} {
			if !strings.Contains(hcl, want) {
				t.Errorf("%s config lacks %s:\n%s", storage, want, hcl)
			}
		}
		if strings.Contains(hcl, "tls_disable") || strings.Contains(hcl, "http://") {
			t.Errorf("%s config still plain http:\n%s", storage, hcl)
		}
	}
	// The double reads what Foundry installs, so the e2e run exercises it.
	hcl, _ := OpenBAOConfig("file")
	cfg, err := openbao.ParseConfig(hcl)
	if err != nil || cfg.TLSKeyFile != messages.ServiceCredential("openbao", OpenBAOKeyFile) {
		t.Fatalf("double reads %+v, %v", cfg, err)
	}
	h := OpenBAO().Health(Desired{})
	if !strings.HasPrefix(h.URL, "https://127.0.0.1:8200/") || h.CAFile != "/etc/foundry/ca.pem" {
		t.Fatalf("health %+v", h)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestWithOpenBAOTLSAddsTheKeyAsASecretCredential(t *testing.T) {
	cfg := &config.Config{Components: config.Components{OpenBAO: &config.OpenBAO{Hosts: []string{"bao1"}, Storage: "file"}}}
	art := messages.ArtifactRef{Component: "openbao", Version: "2.1.0", File: "bao", Size: 1, SHA256: strings.Repeat("a", 64), KeyID: "k1", Sig: []byte("s")}
	tg, err := Resolve(cfg, OpenBAO(), Overrides{}, []messages.Artifact{{ArtifactRef: art, Verified: true}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // twice: a re-run replaces, never duplicates
		if tg, err = WithOpenBAOTLS(tg, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n", "KEY"); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, f := range tg.Spec.Files {
		names = append(names, f.Name)
		if f.Name == OpenBAOKeyFile && !f.Secret || f.Name == OpenBAOCertFile && f.Secret {
			t.Fatalf("file %s secret=%v", f.Name, f.Secret)
		}
	}
	if strings.Join(names, ",") != "config.hcl,tls.crt,tls.key" {
		t.Fatalf("files %v", names)
	}
	unit := service.Unit(tg.Spec)
	if !strings.Contains(unit, "LoadCredential=tls.key:/etc/foundry/components/openbao/tls.key") {
		t.Fatalf("unit does not hand the key over:\n%s", unit)
	}
}

// config init writes the address the CLI and other tools use; it must
// name the scheme the installed listener speaks.
func TestConfigInitAndListenerAgreeOnTheScheme(t *testing.T) {
	p := t.TempDir() + "/s.yaml"
	if _, err := config.Init(p, config.InitOptions{Name: "p", Domain: "example.com", Hosts: []config.HostSpec{{Hostname: "n1.example.com"}}}, false); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	addr := f.Config.OpenBAOAddress()
	scheme := addr[:strings.Index(addr, "://")]
	if h := OpenBAO().Health(Desired{}); !strings.HasPrefix(h.URL, scheme+"://") {
		t.Fatalf("config init writes %s, the listener is checked at %s", addr, h.URL)
	}
}
