package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/messages"
)

// hellosvc's layout on a host, and the port it listens on.
const (
	svcName = "hellosvc"
	svcPort = "18080"
	svcConf = "/etc/foundry/components/hellosvc/hello.conf"
)

// oddArgs go through the unit's ExecStart and must arrive unchanged:
// systemd quoting, specifiers and variables.
var oddArgs = []string{"two words", "100%", "%h", "$HOME", "${USER}", `back\slash`, `say "hi"`, "it's", ";", ""}

// buildHellosvc builds e2e/testdata/hellosvc stamped with version.
func buildHellosvc(t *testing.T, version string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hello-"+version)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, "./testdata/hellosvc")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hellosvc %s: %v\n%s", version, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishSvcArtifact uploads data as the admin and has the controller sign
// it, as foundry artifact import does.
func (f *fleet) publishSvcArtifact(t *testing.T, component, version, file string, data []byte) messages.ArtifactRef {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.client().UploadArtifact(ctx, component, version, file, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload: %v", err)
	}
	res, err := f.c.ImportArtifact(ctx, messages.ArtifactImportRequest{Component: component, Version: version, Files: []string{file}})
	if err != nil || len(res.Artifacts) != 1 || !res.Artifacts[0].Verified {
		t.Fatalf("import: %+v %v", res, err)
	}
	return res.Artifacts[0].ArtifactRef
}

// svcJob runs a service verb as a job and waits for it to finish.
func svcJob(t *testing.T, cl *client.Client, verb string, hosts []harness.Host, payload any) messages.JobRecord {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	ctx := context.Background()
	rec, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: verb, Hosts: names, Payload: b})
	if err != nil {
		t.Fatalf("%s: %v", verb, err)
	}
	eventually(t, 5*time.Minute, 200*time.Millisecond, func() error {
		if rec, err = cl.Job(ctx, rec.ID); err != nil {
			return err
		}
		if rec.State == messages.JobRunning {
			return fmt.Errorf("job %s (%s) still running", rec.ID, verb)
		}
		return nil
	})
	return rec
}

// svcResults decodes each host's reply payload into T.
func svcResults[T any](t *testing.T, rec messages.JobRecord) map[string]T {
	t.Helper()
	out := map[string]T{}
	for _, h := range rec.Hosts {
		var v T
		if err := json.Unmarshal(h.Result, &v); err != nil {
			t.Fatalf("%s: result %q: %v (state %s, error %q)", h.Host, h.Result, err, h.State, h.Error)
		}
		out[h.Host] = v
	}
	return out
}

func svcMustSucceed(t *testing.T, rec messages.JobRecord) {
	t.Helper()
	if rec.State != messages.JobSucceeded {
		for _, h := range rec.Hosts {
			t.Logf("%s: %s %s", h.Host, h.State, h.Error)
		}
		t.Fatalf("job %s %s: %s", rec.Verb, rec.State, rec.Stopped)
	}
}

func svcChanged(r messages.ServiceApplyReply) string {
	var out []string
	for _, s := range r.Steps {
		if s.Changed {
			out = append(out, s.Name)
		}
	}
	return strings.Join(out, ",")
}

// svcGet fetches http://<host>:<svcPort><path> from this machine.
func svcGet(h harness.Host, path string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + h.IP + ":" + svcPort + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s on %s: %s", path, h.Name, resp.Status)
	}
	return string(b), err
}

func svcTrace(t *testing.T, h harness.Host) map[string]string {
	t.Helper()
	out := inside(t, h, "systemctl show -p ActiveState -p SubState -p MainPID -p NRestarts -p UnitFileState foundry-hellosvc.service")
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, "=")
		props[k] = v
	}
	return props
}

type svcInfo struct {
	Version    string   `json:"version"`
	UID        int      `json:"uid"`
	Args       []string `json:"args"`
	Config     string   `json:"config"`
	Cwd        string   `json:"cwd"`
	WriteError string   `json:"write_error"`
	PID        int      `json:"pid"`
}

func TestServiceLifecycle(t *testing.T) {
	all := hosts(t)
	two := all[1:3]
	// Hosts are shared with other tests: start from bare ones.
	began := time.Now()
	var wg sync.WaitGroup
	for _, h := range two {
		if inside(t, h, "ls -d /etc/foundry /opt/foundry 2>/dev/null | wc -l") == "0" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := harness.Reset(ctx, h); err != nil {
				t.Errorf("reset %s: %v", h.Name, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("hosts bare in %s", time.Since(began).Round(time.Millisecond))
	f := newFleet(t)
	began = time.Now()
	code, out, errOut := f.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, two),
		"--password-stdin", "--yes", "--agent-binary", f.agent)
	if code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}
	cl := f.client()
	t.Logf("agents installed in %s", time.Since(began).Round(time.Millisecond))

	began = time.Now()
	bins := map[string][]byte{"1.0.0": buildHellosvc(t, "1.0.0"), "2.0.0": buildHellosvc(t, "2.0.0")}
	refs := map[string]messages.ArtifactRef{}
	for v, b := range bins {
		refs[v] = f.publishSvcArtifact(t, svcName, v, "hello", b)
	}
	t.Logf("hellosvc built and published twice in %s", time.Since(began).Round(time.Millisecond))
	spec := func(version string, conf string) messages.ServiceSpec {
		return messages.ServiceSpec{Component: svcName, Version: version, Artifact: refs[version],
			Args:        append([]string{"-addr", ":" + svcPort, "-config", svcConf, "--"}, oddArgs...),
			Files:       []messages.ServiceFile{{Name: "hello.conf", Content: conf}},
			Health:      messages.ServiceHealth{URL: "http://127.0.0.1:" + svcPort + "/health"},
			Description: "hello service 100% e2e",
		}
	}
	healthSays := func(want string) {
		t.Helper()
		for _, h := range two {
			eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
				got, err := svcGet(h, "/health")
				if err != nil {
					return err
				}
				if got != want {
					return fmt.Errorf("%s /health = %q, want %q", h.Name, got, want)
				}
				return nil
			})
		}
	}
	v1 := spec("1.0.0", "greeting = hello\n")

	t.Run("plan on bare hosts says what would be installed", func(t *testing.T) {
		rec := svcJob(t, cl, messages.VerbServicePlan, two, v1)
		svcMustSucceed(t, rec)
		for h, r := range svcResults[messages.ServiceApplyReply](t, rec) {
			if svcChanged(r) != "artifact,config,unit,enable,start" || r.Steps[0].Detail != "install 1.0.0" {
				t.Errorf("%s: plan %+v", h, r)
			}
		}
		for _, h := range two {
			if left := inside(t, h, "ls /opt/foundry /etc/foundry/components /etc/systemd/system/foundry-hellosvc.service 2>/dev/null | wc -l"); left != "0" {
				t.Errorf("%s: plan changed the host", h.Name)
			}
		}
	})

	t.Run("apply installs and starts it as a dynamic user", func(t *testing.T) {
		start := time.Now()
		rec := svcJob(t, cl, messages.VerbServiceApply, two, v1)
		svcMustSucceed(t, rec)
		t.Logf("install on %d hosts: %s", len(two), time.Since(start).Round(time.Millisecond))
		for h, r := range svcResults[messages.ServiceApplyReply](t, rec) {
			if svcChanged(r) != "artifact,config,unit,enable,start" || !r.Changed || r.RolledBack {
				t.Errorf("%s: %+v", h, r)
			}
			t.Logf("%s: %s", h, r.Steps[len(r.Steps)-1].Detail)
		}
		healthSays("ok 1.0.0")
		for _, h := range two {
			body, err := svcGet(h, "/info")
			if err != nil {
				t.Fatal(err)
			}
			var info svcInfo
			if err := json.Unmarshal([]byte(body), &info); err != nil {
				t.Fatalf("%s /info %q: %v", h.Name, body, err)
			}
			// getcwd resolves the StateDirectory link of a DynamicUser.
			if info.UID == 0 || info.Version != "1.0.0" || info.Config != "greeting = hello\n" ||
				info.Cwd != "/var/lib/private/foundry-hellosvc" || info.WriteError != "" {
				t.Errorf("%s: %+v", h.Name, info)
			}
			if !slices.Equal(info.Args, oddArgs) {
				t.Errorf("%s: arguments arrived as %q, want %q", h.Name, info.Args, oddArgs)
			}
			// A DynamicUser uid is allocated from 61184-65519.
			if uid := inside(t, h, fmt.Sprintf("stat -c %%u /proc/%d", info.PID)); uid != fmt.Sprint(info.UID) || info.UID < 61184 || info.UID > 65519 {
				t.Errorf("%s: runs as uid %s (reported %d), not a dynamic user", h.Name, uid, info.UID)
			}
			tr := svcTrace(t, h)
			if tr["ActiveState"] != "active" || tr["UnitFileState"] != "enabled" {
				t.Errorf("%s: %v", h.Name, tr)
			}
			if m := inside(t, h, "stat -c '%a %u' /opt/foundry/components/hellosvc/1.0.0/hello "+svcConf+" /var/lib/private/foundry-hellosvc"); m != fmt.Sprintf("755 0\n644 0\n700 %d", info.UID) {
				t.Errorf("%s: modes %q", h.Name, m)
			}
		}
	})

	t.Run("re-apply changes nothing and restarts nothing", func(t *testing.T) {
		before := map[string]map[string]string{}
		for _, h := range two {
			before[h.Name] = svcTrace(t, h)
		}
		rec := svcJob(t, cl, messages.VerbServiceApply, two, v1)
		svcMustSucceed(t, rec)
		for h, r := range svcResults[messages.ServiceApplyReply](t, rec) {
			if r.Changed || svcChanged(r) != "" {
				t.Errorf("%s: %+v", h, r)
			}
		}
		for _, h := range two {
			after := svcTrace(t, h)
			if after["MainPID"] != before[h.Name]["MainPID"] || after["NRestarts"] != before[h.Name]["NRestarts"] {
				t.Errorf("%s restarted: %v -> %v", h.Name, before[h.Name], after)
			}
		}
	})

	t.Run("status reports what runs", func(t *testing.T) {
		rec := svcJob(t, cl, messages.VerbServiceStatus, two, messages.ServiceQuery{Component: svcName,
			Health: &messages.ServiceHealth{URL: "http://127.0.0.1:" + svcPort + "/health"}})
		svcMustSucceed(t, rec)
		sum := sha256.Sum256(bins["1.0.0"])
		for _, h := range two {
			s := svcResults[messages.ServiceStatus](t, rec)[h.Name]
			pid := svcTrace(t, h)["MainPID"]
			if !s.Installed || s.Version != "1.0.0" || s.BinarySHA256 != hex.EncodeToString(sum[:]) || !s.Enabled ||
				s.ActiveState != "active" || s.SubState != "running" || fmt.Sprint(s.MainPID) != pid || s.ActiveSince == 0 ||
				s.HealthStatus != 200 || s.HealthBody != "ok 1.0.0" {
				t.Errorf("%s: %+v (pid %s)", h.Name, s, pid)
			}
		}
	})

	t.Run("upgrade, then downgrade; only the current version stays", func(t *testing.T) {
		rec := svcJob(t, cl, messages.VerbServiceApply, two, spec("2.0.0", "greeting = hello\n"))
		svcMustSucceed(t, rec)
		for h, r := range svcResults[messages.ServiceApplyReply](t, rec) {
			if r.Steps[0].Detail != "upgrade 1.0.0 → 2.0.0; removed 1.0.0" || svcChanged(r) != "artifact,unit,start" {
				t.Errorf("%s: %+v", h, r)
			}
		}
		healthSays("ok 2.0.0")
		for _, h := range two {
			if got := inside(t, h, "ls /opt/foundry/components/hellosvc"); got != "2.0.0" {
				t.Errorf("%s: versions on disk %q", h.Name, got)
			}
		}
		rec = svcJob(t, cl, messages.VerbServiceApply, two, v1)
		svcMustSucceed(t, rec)
		for h, r := range svcResults[messages.ServiceApplyReply](t, rec) {
			if r.Steps[0].Detail != "downgrade 2.0.0 → 1.0.0; removed 2.0.0" {
				t.Errorf("%s: %+v", h, r)
			}
		}
		healthSays("ok 1.0.0")
		for _, h := range two {
			if got := inside(t, h, "ls /opt/foundry/components/hellosvc"); got != "1.0.0" {
				t.Errorf("%s: versions on disk %q", h.Name, got)
			}
		}
	})

	t.Run("an upgrade that never gets healthy is rolled back", func(t *testing.T) {
		before := map[string]map[string]string{}
		for _, h := range two {
			before[h.Name] = svcTrace(t, h)
		}
		// Host 1: v2 with a config path it cannot read exits at once
		// (caught as soon as systemd restarts it). Host 2: v2 runs but
		// its health URL never answers 200 (caught at the deadline).
		crash := spec("2.0.0", "greeting = hello\n")
		crash.Args[3] = "/etc/foundry/components/hellosvc/missing.conf"
		unhealthy := spec("2.0.0", "greeting = changed\n")
		unhealthy.Health.URL = "http://127.0.0.1:" + svcPort + "/not-there"
		var recs [2]messages.JobRecord
		var jobs sync.WaitGroup
		for i, s := range []messages.ServiceSpec{crash, unhealthy} {
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				recs[i] = svcJob(t, cl, messages.VerbServiceApply, two[i:i+1], s)
			}()
		}
		jobs.Wait()
		for i, rec := range recs {
			h := rec.Hosts[0]
			r := svcResults[messages.ServiceApplyReply](t, rec)[h.Host]
			t.Logf("%s: %s", h.Host, h.Error)
			if h.State != messages.HostFailed || !r.RolledBack || !strings.HasPrefix(h.Error, "health: ") ||
				!strings.Contains(h.Error, "rolled back to 1.0.0") || !strings.Contains(h.Error, "journalctl -u foundry-hellosvc.service") {
				t.Errorf("%s: %+v\n%+v", h.Host, h, r)
			}
			if i == 0 && !strings.Contains(h.Error, "exited") {
				t.Errorf("%s: the crash was not recognized: %s", h.Host, h.Error)
			}
		}
		healthSays("ok 1.0.0")
		for _, h := range two {
			after := svcTrace(t, h)
			if after["ActiveState"] != "active" || after["MainPID"] == before[h.Name]["MainPID"] {
				t.Errorf("%s: previous version not running again: %v -> %v", h.Name, before[h.Name], after)
			}
			if got := inside(t, h, "ls /opt/foundry/components/hellosvc; cat "+svcConf+"; grep foundry-version /etc/systemd/system/foundry-hellosvc.service"); got != "1.0.0\ngreeting = hello\n# foundry-version: 1.0.0" {
				t.Errorf("%s: files after rollback %q", h.Name, got)
			}
		}
		rec := svcJob(t, cl, messages.VerbServiceApply, two, v1)
		svcMustSucceed(t, rec)
		for h, r := range svcResults[messages.ServiceApplyReply](t, rec) {
			if r.Changed {
				t.Errorf("%s: not converged after the rollback: %+v", h, r)
			}
		}
	})

	t.Run("remove takes everything away, and again changes nothing", func(t *testing.T) {
		q := messages.ServiceQuery{Component: svcName}
		rec := svcJob(t, cl, messages.VerbServiceRemove, two, q)
		svcMustSucceed(t, rec)
		for h, r := range svcResults[messages.ServiceRemoveReply](t, rec) {
			if !r.Changed {
				t.Errorf("%s: %+v", h, r)
			}
		}
		for _, h := range two {
			if left := inside(t, h, "ls -d /etc/systemd/system/foundry-hellosvc.service /etc/foundry/components/hellosvc /opt/foundry/components/hellosvc 2>/dev/null | wc -l"); left != "0" {
				t.Errorf("%s: %s paths left", h.Name, left)
			}
			if st := inside(t, h, "systemctl show -p LoadState -p ActiveState foundry-hellosvc.service"); !strings.Contains(st, "LoadState=not-found") || !strings.Contains(st, "ActiveState=inactive") {
				t.Errorf("%s: %s", h.Name, st)
			}
			if _, err := svcGet(h, "/health"); err == nil {
				t.Errorf("%s: still answering after remove", h.Name)
			}
			if inside(t, h, "test -d /var/lib/private/foundry-hellosvc && echo kept") != "kept" {
				t.Errorf("%s: data removed without purge", h.Name)
			}
		}
		rec = svcJob(t, cl, messages.VerbServiceRemove, two, q)
		svcMustSucceed(t, rec)
		for h, r := range svcResults[messages.ServiceRemoveReply](t, rec) {
			if r.Changed {
				t.Errorf("%s: second remove %+v", h, r)
			}
		}
		q.Purge = true
		rec = svcJob(t, cl, messages.VerbServiceRemove, two, q)
		svcMustSucceed(t, rec)
		for _, h := range two {
			if left := inside(t, h, "ls -d /var/lib/private/foundry-hellosvc /var/lib/foundry-hellosvc 2>/dev/null | wc -l"); left != "0" {
				t.Errorf("%s: purge left %s paths", h.Name, left)
			}
		}
		rec = svcJob(t, cl, messages.VerbServiceStatus, two, messages.ServiceQuery{Component: svcName})
		svcMustSucceed(t, rec)
		for h, s := range svcResults[messages.ServiceStatus](t, rec) {
			if s.Installed || s.Enabled || s.ActiveState != "" {
				t.Errorf("%s: status after remove %+v", h, s)
			}
		}
	})
}
