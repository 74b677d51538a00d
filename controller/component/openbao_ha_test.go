package component

import (
	"slices"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/messages"
)

func TestOpenBAORaftRendersARetryJoinPerPeer(t *testing.T) {
	peers := []string{"https://10.77.0.11:8200", "https://10.77.0.12:8200", "https://bao3.example.com:8200"}
	hcl, err := OpenBAOConfig("raft", peers...)
	if err != nil {
		t.Fatal(err)
	}
	want := `storage "raft" {
  path = "/var/lib/foundry-openbao/raft"
  retry_join {
    leader_api_addr     = "https://10.77.0.11:8200"
    leader_ca_cert_file = "/etc/foundry/ca.pem"
  }
  retry_join {
    leader_api_addr     = "https://10.77.0.12:8200"
    leader_ca_cert_file = "/etc/foundry/ca.pem"
  }
  retry_join {
    leader_api_addr     = "https://bao3.example.com:8200"
    leader_ca_cert_file = "/etc/foundry/ca.pem"
  }
}
`
	if !strings.Contains(hcl, want) {
		t.Fatalf("raft block:\n%s\nwant it to contain:\n%s", hcl, want)
	}
	if strings.Count(hcl, "{") != strings.Count(hcl, "}") {
		t.Fatalf("unbalanced braces:\n%s", hcl)
	}
}

func TestOpenBAOSingleHostOrFileStorageHasNoRetryJoin(t *testing.T) {
	for _, c := range []struct {
		storage string
		peers   []string
	}{
		{"raft", []string{"https://10.77.0.11:8200"}},
		{"raft", nil},
		{"file", []string{"https://a:8200", "https://b:8200"}},
	} {
		hcl, err := OpenBAOConfig(c.storage, c.peers...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(hcl, "retry_join") {
			t.Errorf("%s with %d peer(s) has retry_join:\n%s", c.storage, len(c.peers), hcl)
		}
	}
}

func TestOpenBAOPeersUseConfiguredAddressesInConfigOrder(t *testing.T) {
	cfg := &config.Config{
		Cluster: config.Cluster{Nodes: []config.Node{
			{Hostname: "bao2.example.com", Address: "10.77.0.12"},
			{Hostname: "bao1.example.com", Address: "10.77.0.11"},
			{Hostname: "bao3.example.com"},
		}},
		Components: config.Components{OpenBAO: &config.OpenBAO{Hosts: []string{"bao1.example.com", "bao2.example.com", "bao3.example.com"}}},
	}
	got := OpenBAOPeers(cfg)
	want := []string{"https://10.77.0.11:8200", "https://10.77.0.12:8200", "https://bao3.example.com:8200"}
	if !slices.Equal(got, want) {
		t.Fatalf("peers = %v, want %v", got, want)
	}
	if OpenBAOPeers(&config.Config{}) != nil {
		t.Fatal("peers without openbao")
	}
}

// The service spec every host gets carries the peers, so a three-host
// raft install renders one config that joins them all.
func TestOpenBAOServiceSpecCarriesTheRaftPeers(t *testing.T) {
	cfg := &config.Config{
		Cluster: config.Cluster{Nodes: []config.Node{
			{Hostname: "bao1", Address: "10.77.0.11"}, {Hostname: "bao2", Address: "10.77.0.12"},
		}},
		Components: config.Components{OpenBAO: &config.OpenBAO{Hosts: []string{"bao1", "bao2"}, Storage: "raft"}},
	}
	art := messages.ArtifactRef{Component: "openbao", Version: "2.1.0", File: "bao", Size: 1, SHA256: strings.Repeat("a", 64), KeyID: "k1", Sig: []byte("s")}
	tg, err := Resolve(cfg, OpenBAO(), Overrides{}, []messages.Artifact{{ArtifactRef: art, Verified: true}})
	if err != nil {
		t.Fatal(err)
	}
	hcl := tg.Spec.Files[0].Content
	if strings.Count(hcl, "retry_join {") != 2 || !strings.Contains(hcl, `"https://10.77.0.12:8200"`) {
		t.Fatalf("config.hcl:\n%s", hcl)
	}
}
