package service

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// k3sSpec uploads a k3s binary for version and returns a server spec
// whose token file holds token.
func (e *env) k3sSpec(version, token string) messages.ServiceSpec {
	data := []byte("#!/bin/true\n# k3s " + version + "\n")
	ref := e.keys.Ref("k3s", version, "k3s", data)
	e.src.Objects[ref.ObjectName()] = data
	return messages.ServiceSpec{Component: "k3s", Version: version, Artifact: ref, Args: []string{"server"},
		Files: []messages.ServiceFile{
			{Name: "config.yaml", Content: "token-file: /etc/rancher/k3s/token\nnode-name: web-1\n"},
			{Name: "registries.yaml", Content: "mirrors:\n  docker.io:\n    endpoint: [\"https://10.77.0.1:5000\"]\n"},
			{Name: "token", Content: token, Secret: true}},
		Health: messages.ServiceHealth{URL: e.url + "/ok"}}
}

// logs makes the manager log everything, at debug level, into a buffer.
func (e *env) logs() *syncBuffer {
	b := &syncBuffer{}
	e.m.opts.Logger = slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// k3sWrites makes the fake systemd act like k3s when it starts the k3s
// unit: it writes its data and its kubeconfig.
func (e *env) k3sWrites() {
	e.sys.OnStart = func(unit string) {
		if unit != messages.ServiceUnit("k3s") {
			return
		}
		os.MkdirAll(e.p(messages.K3sDataDir+"/server/tls"), 0o700)
		os.WriteFile(e.p(messages.K3sDataDir+"/server/node-token"), []byte("K10node"), 0o600)
		os.WriteFile(e.p(messages.K3sKubeconfigPath), []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	}
}

func TestK3sApplyUsesItsLayoutAndConverges(t *testing.T) {
	e := newEnv(t)
	e.k3sWrites()
	spec := e.k3sSpec("v1.31.4+k3s1", "K10token-one")
	plan, err := e.m.Plan(context.Background(), spec)
	if err != nil || changedSteps(plan) != "artifact,config,unit,enable,start" ||
		plan.Steps[1].Detail != "write config.yaml, registries.yaml, token" {
		t.Fatalf("plan of a fresh host: %+v %v", plan, err)
	}
	r := e.apply(spec)
	if changedSteps(r) != "artifact,config,unit,enable,start" {
		t.Fatalf("first apply: %+v", r)
	}
	conf := messages.K3sConfigDir
	for p, want := range map[string]os.FileMode{
		conf: 0o755, "/etc/rancher": 0o755,
		conf + "/config.yaml": 0o644, conf + "/registries.yaml": 0o644, conf + "/token": 0o600,
		BinPath(spec): 0o755, UnitPath("k3s"): 0o644,
	} {
		if m := mode(t, e.p(p)); m != want {
			t.Errorf("%s mode %o, want %o", p, m, want)
		}
	}
	if tok, _ := os.ReadFile(e.p(conf + "/token")); string(tok) != "K10token-one" {
		t.Fatalf("token file holds %q", tok)
	}
	if BinPath(spec) != "/opt/foundry/components/k3s/v1.31.4+k3s1/k3s" {
		t.Fatalf("binary at %s", BinPath(spec))
	}
	if unit, _ := os.ReadFile(e.p(UnitPath("k3s"))); string(unit) != K3sUnit(spec) {
		t.Fatalf("unit on disk is not the k3s unit:\n%s", unit)
	}
	if exists(e.p(messages.ServiceConfigDir("k3s"))) || exists(e.p(messages.ServiceDataDir("k3s"))) {
		t.Fatal("k3s got the sandboxed layout's directories")
	}
	// k3s wrote k3s.yaml beside the agent's files: it is not stale
	// config, and a re-apply neither deletes nor restarts anything.
	restarts := e.sys.Restarts
	if r := e.apply(spec); r.Changed || e.sys.Restarts != restarts {
		t.Fatalf("second apply: %+v", r)
	}
	if !exists(e.p(messages.K3sKubeconfigPath)) {
		t.Fatal("the apply deleted k3s.yaml")
	}
	st, err := e.m.Status(context.Background(), messages.ServiceQuery{Component: "k3s"})
	if err != nil || !st.Installed || st.Version != "v1.31.4+k3s1" || st.BinarySHA256 != spec.Artifact.SHA256 || st.ActiveState != "active" {
		t.Fatalf("status %+v %v", st, err)
	}

	// A new token: only the token is written, k3s restarts.
	spec2 := e.k3sSpec("v1.31.4+k3s1", "K10token-two")
	if plan, _ := e.m.Plan(context.Background(), spec2); changedSteps(plan) != "config,start" || plan.Steps[1].Detail != "write token" {
		t.Fatalf("plan of a token change: %+v", plan)
	}
	if r := e.apply(spec2); changedSteps(r) != "config,start" || mode(t, e.p(conf+"/token")) != 0o600 {
		t.Fatalf("token change: %+v", r)
	}
	// A token someone made readable is put back to 0600.
	os.Chmod(e.p(conf+"/token"), 0o644)
	if r := e.apply(spec2); changedSteps(r) != "config,start" || mode(t, e.p(conf+"/token")) != 0o600 {
		t.Fatalf("mode repair: %+v", r)
	}
	// A token someone else owns is written again, as the agent's own.
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root; the owner repair is not checked here")
	}
	if err := os.Chown(e.p(conf+"/token"), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if r := e.apply(spec2); changedSteps(r) != "config,start" || owner(t, e.p(conf+"/token")) != 0 {
		t.Fatalf("owner repair: %+v (owner %d)", r, owner(t, e.p(conf+"/token")))
	}
	if r := e.apply(spec2); r.Changed {
		t.Fatalf("not converged after the owner repair: %+v", r)
	}
}

func owner(t *testing.T, p string) int {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Sys().(*syscall.Stat_t).Uid)
}

// TestK3sSecretNeverShown: the token is in no reply, plan, error or log
// line, whatever happens to the apply.
func TestK3sSecretNeverShown(t *testing.T) {
	e := newEnv(t)
	logs := e.logs()
	e.k3sWrites()
	const secret = "K10-canary-7f3a9c"
	spec := e.k3sSpec("v1.31.4+k3s1", secret+"-one")
	var seen []any
	record := func(v any, err error) {
		seen = append(seen, v)
		if err != nil {
			seen = append(seen, err.Error())
		}
	}
	record(e.m.Plan(context.Background(), spec))
	record(e.m.Apply(context.Background(), spec))
	record(e.m.Apply(context.Background(), spec))
	bad := e.k3sSpec("v1.32.0+k3s1", secret+"-two")
	bad.Health.URL = e.url + "/bad"
	record(e.m.Plan(context.Background(), bad))
	r, err := e.m.Apply(context.Background(), bad)
	if err == nil || !r.RolledBack {
		t.Fatalf("the unhealthy upgrade did not fail and roll back: %+v %v", r, err)
	}
	record(r, err)
	record(e.m.Status(context.Background(), messages.ServiceQuery{Component: "k3s", Health: &messages.ServiceHealth{URL: e.url + "/ok"}}))
	record(e.m.Remove(context.Background(), messages.ServiceQuery{Component: "k3s", Purge: true}))
	b, _ := json.Marshal(seen)
	if strings.Contains(string(b), secret) {
		t.Fatalf("a reply or error shows the token: %s", b)
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("the log shows the token:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "service apply failed") || !strings.Contains(logs.String(), "service removed") {
		t.Fatalf("the log was not captured:\n%s", logs)
	}
}

func TestK3sFailedUpgradeRestoresTokenAndKeepsK3sFiles(t *testing.T) {
	e := newEnv(t)
	e.k3sWrites()
	v1 := e.k3sSpec("v1.31.4+k3s1", "K10old")
	e.apply(v1)
	v2 := e.k3sSpec("v1.32.0+k3s1", "K10new")
	v2.Files = append(v2.Files[:1], v2.Files[2]) // drops registries.yaml
	v2.Health.URL = e.url + "/bad"
	r, err := e.m.Apply(context.Background(), v2)
	if err == nil || !r.RolledBack || !strings.Contains(err.Error(), "rolled back to v1.31.4+k3s1") {
		t.Fatalf("%+v %v", r, err)
	}
	conf := e.p(messages.K3sConfigDir)
	tok, _ := os.ReadFile(conf + "/token")
	if string(tok) != "K10old" || mode(t, conf+"/token") != 0o600 || !exists(conf+"/registries.yaml") {
		t.Fatalf("token %q (mode %o) or registries.yaml not restored", tok, mode(t, conf+"/token"))
	}
	if !exists(e.p(messages.K3sKubeconfigPath)) || !exists(e.p(messages.K3sDataDir)) {
		t.Fatal("the rollback of an upgrade removed what k3s had written")
	}
	if r := e.apply(v1); r.Changed {
		t.Fatalf("not converged on v1 after the rollback: %+v", r)
	}
}

func TestK3sFailedFirstInstallLeavesNothing(t *testing.T) {
	e := newEnv(t)
	e.k3sWrites()
	spec := e.k3sSpec("v1.31.4+k3s1", "K10tok")
	spec.Health.URL = e.url + "/bad"
	r, err := e.m.Apply(context.Background(), spec)
	if err == nil || !r.RolledBack || !strings.Contains(err.Error(), "nothing is left installed") {
		t.Fatalf("%+v %v", r, err)
	}
	for _, p := range []string{UnitPath("k3s"), "/etc/rancher", messages.K3sDataDir, "/var/lib/rancher", "/opt/foundry"} {
		if exists(e.p(p)) {
			t.Errorf("%s left behind", p)
		}
	}
	if got := strings.Join(e.sys.Calls, ","); got != "stop:foundry-k3s.service,kill:foundry-k3s.service" {
		t.Fatalf("systemd calls %s; want a stop, then a kill of what k3s left running", got)
	}

	// Data that was there before the run is not this run's to delete.
	e2 := newEnv(t)
	e2.k3sWrites()
	os.MkdirAll(e2.p(messages.K3sDataDir+"/agent"), 0o700)
	spec2 := e2.k3sSpec("v1.31.4+k3s1", "K10tok")
	spec2.Health.URL = e2.url + "/bad"
	if _, err := e2.m.Apply(context.Background(), spec2); err == nil {
		t.Fatal("apply succeeded")
	}
	if !exists(e2.p(messages.K3sDataDir + "/agent")) {
		t.Fatal("the rollback removed data from before the run")
	}
}

func TestK3sRemoveKillsAndPurges(t *testing.T) {
	e := newEnv(t)
	e.k3sWrites()
	spec := e.k3sSpec("v1.31.4+k3s1", "K10tok")
	e.apply(spec)
	e.sys.Calls = nil

	r, err := e.m.Remove(context.Background(), messages.ServiceQuery{Component: "k3s"})
	want := "stopped foundry-k3s.service,disabled foundry-k3s.service,/etc/systemd/system/foundry-k3s.service," +
		"/etc/rancher/k3s/config.yaml,/etc/rancher/k3s/registries.yaml,/etc/rancher/k3s/token,/opt/foundry/components/k3s"
	if err != nil || !r.Changed || strings.Join(r.Removed, ",") != want {
		t.Fatalf("remove: %+v %v\nwant %s", r, err, want)
	}
	if got := strings.Join(e.sys.Calls, ","); got != "stop:foundry-k3s.service,kill:foundry-k3s.service" {
		t.Fatalf("systemd calls %s; want a stop, then a kill of what KillMode=process left", got)
	}
	// Without purge, what k3s wrote stays for a reinstall.
	if !exists(e.p(messages.K3sKubeconfigPath)) || !exists(e.p(messages.K3sDataDir+"/server/node-token")) {
		t.Fatal("remove without purge deleted k3s's own files")
	}
	st, _ := e.m.Status(context.Background(), messages.ServiceQuery{Component: "k3s"})
	if st.Installed || st.Enabled || st.ActiveState != "" {
		t.Fatalf("status after remove %+v", st)
	}

	r, err = e.m.Remove(context.Background(), messages.ServiceQuery{Component: "k3s", Purge: true})
	if err != nil || strings.Join(r.Removed, ",") != "/etc/rancher/k3s,/var/lib/rancher/k3s" {
		t.Fatalf("purge: %+v %v", r, err)
	}
	if exists(e.p(messages.K3sConfigDir)) || exists(e.p(messages.K3sDataDir)) {
		t.Fatal("purge left k3s's directories")
	}
	if r, err := e.m.Remove(context.Background(), messages.ServiceQuery{Component: "k3s", Purge: true}); err != nil || r.Changed {
		t.Fatalf("second purge: %+v %v", r, err)
	}
}

// TestHealthTrustsTheCAFile: an https health check trusts exactly the CA
// file, read when the check runs (k3s writes it once started).
func TestHealthTrustsTheCAFile(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(srv.Close)
	caFile := messages.K3sDataDir + "/server/tls/server-ca.crt"
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	e.sys.OnStart = func(string) {
		os.MkdirAll(filepath.Dir(e.p(caFile)), 0o700)
		os.WriteFile(e.p(caFile), certPEM, 0o644)
	}
	spec := e.k3sSpec("v1.31.4+k3s1", "K10tok")
	spec.Health = messages.ServiceHealth{URL: srv.URL + "/readyz", CAFile: caFile}
	r := e.apply(spec)
	if h := r.Steps[5]; !strings.HasPrefix(h.Detail, srv.URL+"/readyz answered 200") {
		t.Fatalf("health: %+v", h)
	}
	st, _ := e.m.Status(context.Background(), messages.ServiceQuery{Component: "k3s", Health: &spec.Health})
	if st.HealthStatus != 200 || st.HealthError != "" {
		t.Fatalf("status health %+v", st)
	}
	// Another CA (httptest's servers all share one certificate, so a
	// fresh one is made): the check fails on the certificate.
	os.WriteFile(e.p(caFile), otherCA(t), 0o644)
	st, _ = e.m.Status(context.Background(), messages.ServiceQuery{Component: "k3s", Health: &spec.Health})
	if st.HealthStatus != 0 || !strings.Contains(st.HealthError, "certificate") {
		t.Fatalf("status health with another CA %+v", st)
	}
	os.WriteFile(e.p(caFile), []byte("not pem"), 0o644)
	st, _ = e.m.Status(context.Background(), messages.ServiceQuery{Component: "k3s", Health: &spec.Health})
	if !strings.Contains(st.HealthError, "holds no PEM certificate") {
		t.Fatalf("status health with a bad CA file %+v", st)
	}
}

func TestK3sKubeconfigIsSealed(t *testing.T) {
	e := newEnv(t)
	logs := e.logs()
	pub, priv, _ := messages.NewK3sKubeconfigKey()
	req := messages.K3sKubeconfigRequest{Recipient: pub[:]}
	_, err := e.m.K3sKubeconfig(context.Background(), "web-2", req)
	if messages.CodeOf(err) != messages.CodeNotFound || err.Error() !=
		"k3s has not written its kubeconfig (/etc/rancher/k3s/k3s.yaml) yet on web-2; is it a k3s server, and running? see foundry cluster status" {
		t.Fatalf("no kubeconfig: %v", err)
	}
	kc := "apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\nusers:\n- user:\n    client-key-data: S3CRETKEY\n"
	os.MkdirAll(e.p(messages.K3sConfigDir), 0o755)
	os.WriteFile(e.p(messages.K3sKubeconfigPath), []byte(kc), 0o600)
	r, err := e.m.K3sKubeconfig(context.Background(), "web-1", req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := messages.OpenK3sKubeconfig(r, pub, priv)
	if err != nil || string(got) != kc {
		t.Fatalf("opened %q, %v", got, err)
	}
	if b, _ := json.Marshal(r); strings.Contains(string(b), "S3CRETKEY") || strings.Contains(logs.String(), "S3CRETKEY") {
		t.Fatal("the kubeconfig shows in the reply or the log")
	}
	os.WriteFile(e.p(messages.K3sKubeconfigPath), bytes.Repeat([]byte("x"), messages.MaxK3sKubeconfigBytes+1), 0o600)
	if _, err := e.m.K3sKubeconfig(context.Background(), "web-1", req); messages.CodeOf(err) != messages.CodeTooLarge {
		t.Fatalf("oversized kubeconfig: %v", err)
	}
}

func TestSandboxedSecretFileIsRootOnly(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("1.0.0", messages.ServiceFile{Name: "hello.conf", Content: "x"},
		messages.ServiceFile{Name: "api.key", Content: "k", Secret: true})
	e.apply(spec)
	dir := e.p(messages.ServiceConfigDir("hellosvc"))
	if mode(t, dir+"/api.key") != 0o600 || mode(t, dir+"/hello.conf") != 0o644 {
		t.Fatalf("modes %o %o", mode(t, dir+"/api.key"), mode(t, dir+"/hello.conf"))
	}
	unit, _ := os.ReadFile(e.p(UnitPath("hellosvc")))
	if !strings.Contains(string(unit), "\nLoadCredential=api.key:/etc/foundry/components/hellosvc/api.key\n") {
		t.Fatalf("unit:\n%s", unit)
	}
}

func TestMountPoint(t *testing.T) {
	for line, want := range map[string]string{
		"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue": "/mnt2",
		`412 30 0:58 / /var/lib/rancher/k3s/agent/with\040space rw - tmpfs tmpfs rw`:     "/var/lib/rancher/k3s/agent/with space",
		`1 2 0:1 / /a\134b rw - tmpfs t rw`:                                              `/a\b`,
	} {
		if got, ok := mountPoint(line); !ok || got != want {
			t.Errorf("mountPoint(%q) = %q, want %q", line, got, want)
		}
	}
	if _, ok := mountPoint("short line"); ok {
		t.Error("accepted a short line")
	}
}

// otherCA is a self-signed CA certificate (PEM) nothing here is signed by.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
