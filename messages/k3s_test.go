package messages

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func k3sSpec(files ...ServiceFile) ServiceSpec {
	return ServiceSpec{Component: K3sComponent, Version: "v1.31.4+k3s1", Args: []string{"server"},
		Artifact: ArtifactRef{Component: K3sComponent, Version: "v1.31.4+k3s1", File: "k3s", Size: 10,
			SHA256: strings.Repeat("ab", 32), KeyID: "k", Sig: []byte("s")},
		Files: files,
		Health: ServiceHealth{URL: "https://127.0.0.1:6443/readyz",
			CAFile: "/var/lib/rancher/k3s/server/tls/server-ca.crt"}}
}

func TestK3sSpecAcceptsOnlyItsOwnFiles(t *testing.T) {
	good := k3sSpec(ServiceFile{Name: "config.yaml", Content: "token-file: /etc/rancher/k3s/token\n"},
		ServiceFile{Name: "registries.yaml", Content: "mirrors: {}\n"},
		ServiceFile{Name: "token", Content: "K10secret", Secret: true})
	if err := good.Validate(); err != nil {
		t.Fatalf("a k3s server spec: %v", err)
	}
	// k3s.yaml is k3s's own: a spec that named it would let the agent
	// overwrite (or, by leaving it out, delete) the cluster's kubeconfig.
	for _, name := range []string{"k3s.yaml", "config.yaml.d", "other.conf"} {
		err := k3sSpec(ServiceFile{Name: name}).Validate()
		if CodeOf(err) != CodeBadRequest || !strings.Contains(err.Error(), "use config.yaml, registries.yaml or token") {
			t.Errorf("k3s file %q: %v", name, err)
		}
	}
	// Other components keep any valid name.
	s := k3sSpec(ServiceFile{Name: "k3s.yaml"})
	s.Component, s.Artifact.Component = "zot", "zot"
	if err := s.Validate(); err != nil {
		t.Fatalf("a zot file named k3s.yaml: %v", err)
	}
}

func TestK3sArgsStartWithTheCommandAndCarryNoToken(t *testing.T) {
	for _, args := range [][]string{{"server"}, {"agent"}, {"server", "--cluster-init"}, {"server", "--server", "https://10.77.0.11:6443"}} {
		s := k3sSpec()
		s.Args = args
		if err := s.Validate(); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
	for _, args := range [][]string{nil, {"kubectl"}, {"--token=x", "server"}, {"server", "--token", "x"}, {"agent", "-t=x"}, {"server", "--agent-token=y"}} {
		s := k3sSpec()
		s.Args = args
		if err := s.Validate(); CodeOf(err) != CodeBadRequest {
			t.Errorf("%q accepted: %v", args, err)
		}
	}
}

func TestServiceHealthCAFile(t *testing.T) {
	for _, tc := range []struct {
		url, ca string
		ok      bool
	}{
		{"https://127.0.0.1:6443/readyz", "/var/lib/rancher/k3s/server/tls/server-ca.crt", true},
		{"https://127.0.0.1:6443/readyz", "", true},
		{"http://127.0.0.1:10248/healthz", "", true},
		{"http://127.0.0.1:10248/healthz", "/etc/ca.pem", false}, // a CA for plain http means a mistake
		{"https://h/", "relative/ca.pem", false},
		{"https://h/", "/var/lib/../../etc/shadow", false},
		{"https://h/", "/etc//ca.pem", false},
		{"https://h/", "/etc/ca.pem/", false},
		{"https://h/", "/etc/ca\n.pem", false},
		{"https://h/", "/" + strings.Repeat("a", 600), false},
	} {
		err := ServiceHealth{URL: tc.url, CAFile: tc.ca}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s %q: %v", tc.url, tc.ca, err)
		}
		s := k3sSpec()
		s.Health = ServiceHealth{URL: tc.url, CAFile: tc.ca}
		if (s.Validate() == nil) != tc.ok {
			t.Errorf("spec with %s %q: %v", tc.url, tc.ca, s.Validate())
		}
		q, _ := json.Marshal(ServiceQuery{Component: K3sComponent, Health: &ServiceHealth{URL: tc.url, CAFile: tc.ca}})
		if _, err := DecodeServiceQuery(q); (err == nil) != tc.ok {
			t.Errorf("query with %s %q: %v", tc.url, tc.ca, err)
		}
	}
	// A query without health stays valid.
	if _, err := DecodeServiceQuery([]byte(`{"component":"k3s","purge":true}`)); err != nil {
		t.Fatal(err)
	}
}

func TestK3sKubeconfigVerbIsAdminOnlyAndAJob(t *testing.T) {
	if VerbAllowed(VerbK3sKubeconfig, RoleReadOnly) || !VerbAllowed(VerbK3sKubeconfig, RoleAdmin) {
		t.Fatal("the admin kubeconfig must need an admin operator")
	}
	pub, _, err := NewK3sKubeconfigKey()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(K3sKubeconfigRequest{Recipient: pub[:]})
	if err := CheckJobPayload(VerbK3sKubeconfig, good); err != nil {
		t.Fatalf("good payload: %v", err)
	}
	for _, bad := range []string{``, `{}`, `{"recipient":"AAAA"}`, `null`, `[`} {
		if err := CheckJobPayload(VerbK3sKubeconfig, []byte(bad)); CodeOf(err) != CodeBadRequest {
			t.Errorf("payload %q: %v", bad, err)
		}
	}
}

func TestK3sKubeconfigSealOpenRoundTrip(t *testing.T) {
	pub, priv, err := NewK3sKubeconfigKey()
	if err != nil {
		t.Fatal(err)
	}
	// The size of a real k3s.yaml: CA, client cert and key inline.
	kubeconfig := []byte("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: " +
		strings.Repeat("Q", 800) + "\n    server: https://127.0.0.1:6443\n  name: default\nusers:\n- name: default\n  user:\n" +
		"    client-certificate-data: " + strings.Repeat("R", 900) + "\n    client-key-data: " + strings.Repeat("S", 300) + "\n")
	r, err := SealK3sKubeconfig(pub[:], kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := json.Marshal(r)
	if bytes.Contains(wire, []byte("certificate-authority-data")) || bytes.Contains(wire, []byte(strings.Repeat("Q", 40))) {
		t.Fatal("the reply carries the kubeconfig in the clear")
	}
	back, err := DecodeK3sKubeconfigReply(wire)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenK3sKubeconfig(back, pub, priv)
	if err != nil || !bytes.Equal(got, kubeconfig) {
		t.Fatalf("open: %v (%d bytes)", err, len(got))
	}
	// Another call's key does not open it.
	pub2, priv2, _ := NewK3sKubeconfigKey()
	if _, err := OpenK3sKubeconfig(back, pub2, priv2); err == nil {
		t.Fatal("opened with another key")
	}
	back.Sealed[len(back.Sealed)-1] ^= 1
	if _, err := OpenK3sKubeconfig(back, pub, priv); err == nil {
		t.Fatal("opened a tampered reply")
	}
}

func TestK3sKubeconfigReplyFitsAJobResult(t *testing.T) {
	pub, _, _ := NewK3sKubeconfigKey()
	r, err := SealK3sKubeconfig(pub[:], bytes.Repeat([]byte("x"), MaxK3sKubeconfigBytes))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	if len(b) > MaxJobResultBytes {
		t.Fatalf("a reply with the largest kubeconfig is %d bytes; a job keeps at most %d", len(b), MaxJobResultBytes)
	}
	_, err = SealK3sKubeconfig(pub[:], bytes.Repeat([]byte("x"), MaxK3sKubeconfigBytes+1))
	if CodeOf(err) != CodeTooLarge {
		t.Fatalf("an oversized kubeconfig: %v", err)
	}
	if _, err := SealK3sKubeconfig(pub[:31], []byte("x")); CodeOf(err) != CodeBadRequest {
		t.Fatalf("a short key: %v", err)
	}
}
