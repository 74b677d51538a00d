package service

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// env is a Manager over a temporary root, a fake systemd, an in-memory
// artifact store and a real HTTP health endpoint.
type env struct {
	t    *testing.T
	root string
	sys  *FakeSystemd
	src  *MemSource
	keys TestKeys
	m    *Manager
	url  string // health endpoint: /ok answers 200, /bad 500
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			w.Write([]byte("ok"))
			return
		}
		http.Error(w, "sealed", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	e := &env{t: t, root: root, sys: &FakeSystemd{Root: root}, src: &MemSource{Objects: map[string][]byte{}},
		keys: NewTestKeys(), url: srv.URL}
	e.m = New(Options{Root: root, Systemd: e.sys, Source: e.src, Verifier: e.keys.Verifier,
		HealthTimeout: time.Second, HealthInterval: 10 * time.Millisecond})
	return e
}

// spec uploads a binary for version and returns a spec for it.
func (e *env) spec(version string, files ...messages.ServiceFile) messages.ServiceSpec {
	data := []byte("#!/bin/true\n# hellosvc " + version + "\n")
	ref := e.keys.Ref("hellosvc", version, "hello", data)
	e.src.Objects[ref.ObjectName()] = data
	return messages.ServiceSpec{Component: "hellosvc", Version: version, Artifact: ref,
		Args: []string{"-addr", ":8080"}, Files: files, Health: messages.ServiceHealth{URL: e.url + "/ok"}}
}

func (e *env) p(p string) string { return filepath.Join(e.root, p) }

func (e *env) apply(spec messages.ServiceSpec) messages.ServiceApplyReply {
	e.t.Helper()
	r, err := e.m.Apply(context.Background(), spec)
	if err != nil {
		e.t.Fatalf("apply %s: %v (reply %+v)", spec.Version, err, r)
	}
	return r
}

func changedSteps(r messages.ServiceApplyReply) string {
	var out []string
	for _, s := range r.Steps {
		if s.Changed {
			out = append(out, s.Name)
		}
	}
	return strings.Join(out, ",")
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestApplyInstallsThenConverges(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("1.0.0", messages.ServiceFile{Name: "hello.conf", Content: "greeting = hi\n"})

	plan, err := e.m.Plan(context.Background(), spec)
	if err != nil || changedSteps(plan) != "artifact,config,unit,enable,start" || plan.Steps[0].Detail != "install 1.0.0" {
		t.Fatalf("plan of a fresh host: %+v %v", plan, err)
	}
	if e.src.Opens != 0 || e.sys.Reloads != 0 || exists(e.p(messages.ServiceBinRoot)) {
		t.Fatal("plan changed or fetched something")
	}

	r := e.apply(spec)
	if changedSteps(r) != "artifact,config,unit,enable,start" || !r.Changed || r.RolledBack {
		t.Fatalf("first apply: %+v", r)
	}
	bin := e.p(BinPath(spec))
	if got, _ := fileSHA256(bin); got != spec.Artifact.SHA256 {
		t.Fatalf("binary sha %s", got)
	}
	// umask-proof modes: the dynamic user must reach binary and config.
	for p, want := range map[string]os.FileMode{
		bin: 0o755, filepath.Dir(bin): 0o755, e.p("/opt/foundry"): 0o755, e.p(messages.ServiceBinRoot): 0o755,
		e.p(messages.ServiceConfigDir("hellosvc")): 0o755, e.p(UnitPath("hellosvc")): 0o644,
		e.p(messages.ServiceConfigDir("hellosvc") + "/hello.conf"): 0o644,
	} {
		if m := mode(t, p); m != want {
			t.Errorf("%s mode %o, want %o", p, m, want)
		}
	}
	st, _ := e.sys.State(context.Background(), "foundry-hellosvc.service")
	if !st.Enabled() || st.ActiveState != "active" {
		t.Fatalf("systemd state %+v", st)
	}
	pid := st.MainPID

	// Converged: nothing changes, nothing restarts, nothing is fetched.
	opens, starts, restarts := e.src.Opens, e.sys.Starts, e.sys.Restarts
	r = e.apply(spec)
	if r.Changed || changedSteps(r) != "" {
		t.Fatalf("second apply changed: %+v", r)
	}
	st, _ = e.sys.State(context.Background(), "foundry-hellosvc.service")
	if e.src.Opens != opens || e.sys.Starts != starts || e.sys.Restarts != restarts || st.MainPID != pid {
		t.Fatal("second apply fetched or restarted")
	}
	if plan, _ := e.m.Plan(context.Background(), spec); plan.Changed {
		t.Fatalf("plan of a converged host: %+v", plan)
	}

	status, err := e.m.Status(context.Background(), messages.ServiceQuery{Component: "hellosvc",
		Health: &messages.ServiceHealth{URL: e.url + "/ok"}})
	if err != nil || !status.Installed || status.Version != "1.0.0" || status.BinarySHA256 != spec.Artifact.SHA256 ||
		!status.Enabled || status.ActiveState != "active" || status.MainPID != pid || status.HealthStatus != 200 || status.HealthBody != "ok" {
		t.Fatalf("status %+v %v", status, err)
	}
}

func TestApplyConfigChangeRestartsAndPrunes(t *testing.T) {
	e := newEnv(t)
	e.apply(e.spec("1.0.0", messages.ServiceFile{Name: "a.conf", Content: "1"}, messages.ServiceFile{Name: "b.conf", Content: "2"}))
	restarts := e.sys.Restarts
	spec := e.spec("1.0.0", messages.ServiceFile{Name: "a.conf", Content: "changed"})
	if plan, _ := e.m.Plan(context.Background(), spec); changedSteps(plan) != "config,start" ||
		plan.Steps[1].Detail != "write a.conf; remove b.conf" || plan.Steps[4].Detail != "restart foundry-hellosvc.service (config changed)" {
		t.Fatalf("plan %+v", plan)
	}
	r := e.apply(spec)
	if changedSteps(r) != "config,start" || e.sys.Restarts != restarts+1 {
		t.Fatalf("%+v", r)
	}
	if exists(e.p(messages.ServiceConfigDir("hellosvc") + "/b.conf")) {
		t.Fatal("unlisted config file kept")
	}
}

func TestApplyUpgradeDowngradeKeepsOnlyCurrentVersion(t *testing.T) {
	e := newEnv(t)
	v1, v2 := e.spec("1.0.0"), e.spec("2.0.0")
	e.apply(v1)
	plan, _ := e.m.Plan(context.Background(), v2)
	if plan.Steps[0].Detail != "upgrade 1.0.0 → 2.0.0; remove 1.0.0" {
		t.Fatalf("plan %+v", plan.Steps[0])
	}
	r := e.apply(v2)
	if changedSteps(r) != "artifact,unit,start" || !strings.Contains(r.Steps[4].Detail, "restart") {
		t.Fatalf("upgrade %+v", r)
	}
	if exists(e.p(messages.ServiceBinDir("hellosvc", "1.0.0"))) || !exists(e.p(BinPath(v2))) {
		t.Fatal("old version kept or new one missing")
	}
	r = e.apply(v1)
	if r.Steps[0].Detail != "downgrade 2.0.0 → 1.0.0; removed 2.0.0" {
		t.Fatalf("downgrade %+v", r.Steps[0])
	}
	st, _ := e.m.Status(context.Background(), messages.ServiceQuery{Component: "hellosvc"})
	if st.Version != "1.0.0" || st.BinarySHA256 != v1.Artifact.SHA256 {
		t.Fatalf("status after downgrade %+v", st)
	}
}

func TestFailedUpgradeRestoresPreviousVersion(t *testing.T) {
	e := newEnv(t)
	v1 := e.spec("1.0.0", messages.ServiceFile{Name: "hello.conf", Content: "v1"})
	e.apply(v1)
	unitBefore, _ := os.ReadFile(e.p(UnitPath("hellosvc")))
	v2 := e.spec("2.0.0", messages.ServiceFile{Name: "hello.conf", Content: "v2"}, messages.ServiceFile{Name: "extra.conf"})
	v2.Health.URL = e.url + "/bad"
	restarts := e.sys.Restarts

	r, err := e.m.Apply(context.Background(), v2)
	if err == nil || !r.RolledBack {
		t.Fatalf("unhealthy upgrade: %+v %v", r, err)
	}
	if messages.CodeOf(err) != messages.CodeUnavailable || !strings.HasPrefix(err.Error(), "health: ") ||
		!strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "rolled back to 1.0.0") {
		t.Fatalf("error: %v", err)
	}
	if last := r.Steps[len(r.Steps)-1]; last.Name != messages.StepHealth {
		t.Fatalf("steps %+v", r.Steps)
	}
	unitAfter, _ := os.ReadFile(e.p(UnitPath("hellosvc")))
	conf, _ := os.ReadFile(e.p(messages.ServiceConfigDir("hellosvc") + "/hello.conf"))
	if string(unitAfter) != string(unitBefore) || string(conf) != "v1" ||
		exists(e.p(messages.ServiceConfigDir("hellosvc")+"/extra.conf")) {
		t.Fatal("unit or config not restored")
	}
	if exists(e.p(messages.ServiceBinDir("hellosvc", "2.0.0"))) || !exists(e.p(BinPath(v1))) {
		t.Fatal("version dirs not restored")
	}
	st, _ := e.sys.State(context.Background(), "foundry-hellosvc.service")
	if st.ActiveState != "active" || e.sys.Restarts != restarts+2 || st.NeedDaemonReload {
		t.Fatalf("previous version not running again: %+v, %d restarts", st, e.sys.Restarts-restarts)
	}
	// And the host is converged on v1 again.
	if r := e.apply(v1); r.Changed {
		t.Fatalf("after rollback: %+v", r)
	}
}

func TestFailedFirstInstallLeavesNothing(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("1.0.0", messages.ServiceFile{Name: "hello.conf", Content: "x"})
	e.sys.Crash = true
	e.m.opts.HealthTimeout = time.Minute
	start := time.Now()
	r, err := e.m.Apply(context.Background(), spec)
	if err == nil || !r.RolledBack || !strings.Contains(err.Error(), "exited and systemd is restarting it") ||
		!strings.Contains(err.Error(), "journalctl -u foundry-hellosvc.service") || !strings.Contains(err.Error(), "nothing is left installed") {
		t.Fatalf("%+v %v", r, err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("a crash-looping service took %s to fail; it should not wait for the health deadline", time.Since(start))
	}
	for _, p := range []string{UnitPath("hellosvc"), messages.ServiceConfigDir("hellosvc"), messages.ServiceBinRoot, "/opt/foundry"} {
		if exists(e.p(p)) {
			t.Errorf("%s left behind", p)
		}
	}
	st, _ := e.sys.State(context.Background(), "foundry-hellosvc.service")
	if st.ActiveState != "inactive" || st.Enabled() || st.LoadState != "not-found" {
		t.Fatalf("systemd %+v", st)
	}
}

func TestArtifactRefusals(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("1.0.0")
	name := spec.Artifact.ObjectName()

	e.src.Objects[name] = []byte("#!/bin/true\n# hellosvc 6.6.6\n") // same size, other bytes
	_, err := e.m.Apply(context.Background(), spec)
	if messages.CodeOf(err) != messages.CodeBadSignature || !strings.Contains(err.Error(),
		"artifact hellosvc/1.0.0/hello: sha256 of the fetched bytes is ") ||
		!strings.Contains(err.Error(), "the signed one is "+spec.Artifact.SHA256+"; re-import it with foundry artifact import hellosvc 1.0.0 <file>") {
		t.Fatalf("tampered: %v", err)
	}
	e.src.Objects[name] = []byte("short")
	if _, err = e.m.Apply(context.Background(), spec); !strings.Contains(err.Error(), "the fetched object is 5 bytes, the signed size is") {
		t.Fatalf("short: %v", err)
	}
	delete(e.src.Objects, name)
	if _, err = e.m.Apply(context.Background(), spec); messages.CodeOf(err) != messages.CodeNotFound ||
		!strings.Contains(err.Error(), "foundry artifact import hellosvc 1.0.0 <file>") {
		t.Fatalf("missing: %v", err)
	}
	opens := e.src.Opens
	other := NewTestKeys().Ref("hellosvc", "1.0.0", "hello", []byte("x"))
	spec.Artifact.KeyID, spec.Artifact.Sig = other.KeyID, other.Sig
	if _, err = e.m.Apply(context.Background(), spec); messages.CodeOf(err) != messages.CodeUnknownKey || e.src.Opens != opens {
		t.Fatalf("signed by an unknown key: %v (fetched: %v)", err, e.src.Opens != opens)
	}
	spec = e.spec("1.0.0")
	spec.Artifact.Sig[0] ^= 1
	if _, err = e.m.Apply(context.Background(), spec); messages.CodeOf(err) != messages.CodeBadSignature {
		t.Fatalf("bad signature: %v", err)
	}
	for _, p := range []string{messages.ServiceBinRoot, UnitPath("hellosvc")} {
		if exists(e.p(p)) {
			t.Errorf("%s left behind by a refused artifact", p)
		}
	}
}

func TestRemoveIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.apply(e.spec("1.0.0", messages.ServiceFile{Name: "a.conf", Content: "1"}))
	data := e.p(messages.ServiceDataDir("hellosvc"))
	os.MkdirAll(e.p("/var/lib/private/foundry-hellosvc"), 0o700)
	os.Symlink("private/foundry-hellosvc", data)

	r, err := e.m.Remove(context.Background(), messages.ServiceQuery{Component: "hellosvc"})
	if err != nil || !r.Changed || len(r.Removed) != 5 {
		t.Fatalf("remove: %+v %v", r, err)
	}
	for _, p := range []string{UnitPath("hellosvc"), messages.ServiceConfigDir("hellosvc"), messages.ServiceBinRoot + "/hellosvc"} {
		if exists(e.p(p)) {
			t.Errorf("%s left", p)
		}
	}
	if !exists(data) {
		t.Fatal("data removed without purge")
	}
	st, _ := e.m.Status(context.Background(), messages.ServiceQuery{Component: "hellosvc"})
	if st.Installed || st.Enabled || st.ActiveState != "" {
		t.Fatalf("status after remove %+v", st)
	}
	r, err = e.m.Remove(context.Background(), messages.ServiceQuery{Component: "hellosvc", Purge: true})
	if err != nil || !r.Changed || strings.Join(r.Removed, ",") != "/var/lib/foundry-hellosvc,/var/lib/private/foundry-hellosvc" {
		t.Fatalf("purge: %+v %v", r, err)
	}
	r, err = e.m.Remove(context.Background(), messages.ServiceQuery{Component: "hellosvc", Purge: true})
	if err != nil || r.Changed || len(r.Removed) != 0 {
		t.Fatalf("second remove: %+v %v", r, err)
	}
}

func TestUnitReloadWhenSystemdHasAnOlderCopy(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("1.0.0")
	e.apply(spec)
	// Someone edited the unit and put it back without a daemon-reload.
	p := e.p(UnitPath("hellosvc"))
	good, _ := os.ReadFile(p)
	os.WriteFile(p, []byte("# edited\n"), 0o644)
	e.sys.Reload(context.Background())
	os.WriteFile(p, good, 0o644)
	r := e.apply(spec)
	if changedSteps(r) != "unit,start" || !strings.Contains(r.Steps[2].Detail, "daemon-reload") {
		t.Fatalf("%+v", r)
	}
}

func TestApplyRefusesInvalidSpec(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("1.0.0")
	spec.Artifact.Version = "../../etc"
	if _, err := e.m.Apply(context.Background(), spec); messages.CodeOf(err) != messages.CodeBadRequest {
		t.Fatalf("%v", err)
	}
}

func TestApplyRestartsACrashLoopingService(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("1.0.0")
	e.apply(spec)
	// It crashed after a good start (a dependency was down, say).
	e.sys.mu.Lock()
	e.sys.units["foundry-hellosvc.service"].sub = "auto-restart"
	e.sys.mu.Unlock()
	plan, _ := e.m.Plan(context.Background(), spec)
	if changedSteps(plan) != "start" || plan.Steps[4].Detail != "restart foundry-hellosvc.service (it had crashed)" {
		t.Fatalf("plan %+v", plan)
	}
	r := e.apply(spec)
	if changedSteps(r) != "start" || r.RolledBack {
		t.Fatalf("%+v", r)
	}
}
