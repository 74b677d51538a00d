package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/root"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/e2e/helmoci"
	"github.com/foundry-fleet/foundry/messages"
)

// procController is a controller run as its own process (the foundry
// binary), so the test can kill -9 it mid-install and start it again on
// the same data directory.
type procController struct {
	t       *testing.T
	bin     string
	dataDir string
	listen  string
	cmd     *exec.Cmd
	log     *bytes.Buffer
}

func (p *procController) start() {
	p.t.Helper()
	p.log = &bytes.Buffer{}
	p.cmd = exec.Command(p.bin, "controller", "run", "--listen", p.listen, "--advertise", harness.ControllerIP,
		"--data-dir", p.dataDir, "--log-level", "info")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.Env = append(os.Environ(), "FOUNDRY_HOME="+filepath.Dir(p.dataDir))
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	eventually(p.t, 60*time.Second, 200*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", p.listen, time.Second)
		if err != nil {
			return fmt.Errorf("controller not listening yet: %v\n%s", err, p.log.String())
		}
		c.Close()
		if _, err := os.Stat(filepath.Join(p.dataDir, "admin.nk")); err != nil {
			return err
		}
		return nil
	})
}

// kill is kill -9: no goodbye, no flush.
func (p *procController) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *procController) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.kill()
	}
}

// stackEnv is a Foundry home with a stack config, talking to a process
// controller.
type stackEnv struct {
	t    *testing.T
	home string
	ctl  *procController
}

func (s *stackEnv) cli(stdin string, args ...string) (int, string, string) {
	return s.cliT(s.t, stdin, args...)
}

func (s *stackEnv) cliT(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	fac := root.NewFactory(ios, slog.New(slog.DiscardHandler), "e2e")
	args = append([]string{"--controller", "tls://" + s.ctl.listen, "--creds", filepath.Join(s.ctl.dataDir, "admin.nk"),
		"--ca", filepath.Join(s.ctl.dataDir, "ca.pem"), "--config", filepath.Join(s.home, "stack.yaml")}, args...)
	code := root.Run(context.Background(), fac, args)
	return code, out.String(), errOut.String()
}

// must runs a command that has to succeed, failing t (the running
// subtest, never its parent) otherwise.
func (s *stackEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := s.cliT(t, "", args...)
	if code != 0 {
		t.Fatalf("foundry %s: exit %d\nstdout:\n%s\nstderr:\n%s\ncontroller log tail:\n%s", strings.Join(args, " "), code, out, errOut, tail(s.ctl.log.String(), 20))
	}
	return out + errOut
}

func (s *stackEnv) client(t *testing.T) *client.Client {
	t.Helper()
	cl, err := client.Connect(context.Background(), client.Options{URL: "tls://" + s.ctl.listen,
		CredsFile: filepath.Join(s.ctl.dataDir, "admin.nk"), CAFile: filepath.Join(s.ctl.dataDir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func goBuild(t *testing.T, out, pkg string, ldflags string) string {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w "+ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func freePort(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// unitTrace is what changes when a service restarts.
func unitTrace(t *testing.T, h harness.Host, unit string) string {
	return inside(t, h, "systemctl show -p NRestarts -p MainPID -p ActiveEnterTimestampMonotonic "+unit)
}

func TestComponents(t *testing.T) {
	all := hosts(t)
	hs := all[:3]
	bao, reg := hs[0], hs[1:]
	ctx := context.Background()
	for _, h := range hs {
		if err := harness.Reset(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	bin := t.TempDir()
	foundry := goBuild(t, filepath.Join(bin, "foundry"), "../cmd/foundry", "")
	bao21 := goBuild(t, filepath.Join(bin, "2.1.0", "bao"), "./doubles/openbao/cmd/openbao-double", "-X main.version=2.1.0")
	bao22 := goBuild(t, filepath.Join(bin, "2.2.0", "bao"), "./doubles/openbao/cmd/openbao-double", "-X main.version=2.2.0")
	regBin, err := exec.Command("bash", "testbed/registry-artifact.sh").Output()
	if err != nil {
		t.Fatalf("get the docker-registry binary: %v", err)
	}
	registry := strings.TrimSpace(string(regBin))

	home := t.TempDir()
	t.Setenv("FOUNDRY_HOME", home)
	s := &stackEnv{t: t, home: home, ctl: &procController{t: t, bin: foundry, dataDir: filepath.Join(home, "controller"), listen: freePort(t, harness.ControllerIP)}}
	s.ctl.start()
	t.Cleanup(func() { s.ctl.stop() })

	// The stack: the OpenBAO double on one host, the distribution
	// registry on two. SSH keys stay in files: OpenBAO is not there yet.
	cfg := fmt.Sprintf(`version: "1.0"
cluster:
  name: e2e
  domain: e2e.test
  nodes:
    - hostname: %[1]s
      role: control-plane
components:
  openbao:
    version: "2.1.0"
    hosts: [%[1]s]
    storage: file
  zot:
    version: "2.8.2"
    flavor: distribution
    hosts: [%[2]s, %[3]s]
foundry:
  ssh_keys: file
  openbao:
    address: https://%[4]s:8200
`, bao.Name, reg[0].Name, reg[1].Name, bao.IP)
	if err := os.WriteFile(filepath.Join(home, "stack.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := s.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, hs), "--password-stdin", "--yes", "--agent-binary", agentBinary(t))
	if code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}

	t.Run("a missing artifact names the import command", func(t *testing.T) {
		code, _, errOut := s.cli("", "stack", "install")
		if code == 0 || !strings.Contains(errOut, "foundry artifact import openbao 2.1.0") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})

	s.must(t, "artifact", "import", "openbao", "2.1.0", bao21)
	s.must(t, "artifact", "import", "openbao", "2.2.0", bao22)
	s.must(t, "artifact", "import", "zot", "2.8.2", registry)

	t.Run("validate prints the install order", func(t *testing.T) {
		out := s.must(t, "stack", "validate")
		if i, j := strings.Index(out, "openbao"), strings.Index(out, "zot"); i < 0 || j < i {
			t.Fatalf("order: %s", out)
		}
	})

	t.Run("dry run plans every step and changes nothing", func(t *testing.T) {
		out := s.must(t, "stack", "install", "--dry-run")
		for _, want := range []string{"+ artifact", "+ config", "+ unit", "+ start", bao.Name, reg[0].Name, reg[1].Name} {
			if !strings.Contains(out, want) {
				t.Errorf("plan lacks %q:\n%s", want, out)
			}
		}
		for _, h := range hs {
			if got := inside(t, h, "ls /etc/systemd/system/ | grep -c foundry-openbao\\|foundry-zot || true"); got != "0" {
				t.Errorf("%s: dry run left units: %s", h.Name, got)
			}
		}
	})

	t.Run("install brings both up under systemd, OpenBAO initialised and unsealed", func(t *testing.T) {
		out := s.must(t, "stack", "install")
		if !strings.Contains(out, "initialised") {
			t.Errorf("no OpenBAO init note:\n%s", out)
		}
		tok, _, err := (&secrets.TokenStore{Dir: home, Keyring: secrets.SystemKeyring()}).Load()
		if err != nil || tok == "" {
			t.Fatalf("root token not kept as Foundry's token: %v", err)
		}
		if strings.Contains(out, tok) {
			t.Errorf("root token printed without a terminal:\n%s", out)
		}
		if m := inside(t, bao, "systemctl is-active foundry-openbao"); m != "active" {
			t.Fatalf("openbao unit %s", m)
		}
		for _, h := range reg {
			if m := inside(t, h, "systemctl is-active foundry-zot"); m != "active" {
				t.Fatalf("%s registry unit %s", h.Name, m)
			}
			resp, err := http.Get("http://" + h.IP + ":5000/v2/")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("%s /v2/: %v %v", h.Name, resp, err)
			} else {
				resp.Body.Close()
			}
		}
		if !strings.Contains(out, "KV v2 secrets engine enabled at secret/") {
			t.Errorf("no KV engine note:\n%s", out)
		}
		keys, err := os.Stat(filepath.Join(home, "openbao", "unseal-"+bao.Name+".json"))
		if err != nil || keys.Mode().Perm() != 0o600 {
			t.Errorf("unseal keys file: %v %v", keys, err)
		}
		st := s.must(t, "stack", "status")
		for _, want := range []string{"2.1.0", "unsealed", "2.8.2", "serving", "active/running"} {
			if !strings.Contains(st, want) {
				t.Errorf("stack status lacks %q:\n%s", want, st)
			}
		}
	})

	t.Run("OpenBAO speaks TLS from Foundry's CA and secret set works with no manual step", func(t *testing.T) {
		// The double starts with no secrets engine, as OpenBAO does:
		// this write works only because install enabled KV v2.
		code, out, errOut := s.cli("e2e-value-42\n", "secret", "set", "foundry/e2e", "--key", "probe")
		if code != 0 {
			t.Fatalf("secret set: exit %d\n%s\n%s", code, out, errOut)
		}
		got := s.must(t, "secret", "get", "foundry/e2e:probe", "--yes")
		if !strings.Contains(got, "e2e-value-42") {
			t.Fatalf("secret get: %s", got)
		}
		// Plain http is refused, and the certificate verifies against
		// Foundry's CA only (the system roots do not know it).
		if resp, err := http.Get("http://" + bao.IP + ":8200/v1/sys/health"); err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			t.Error("OpenBAO answers plain http")
		}
		if resp, err := http.Get("https://" + bao.IP + ":8200/v1/sys/health"); err == nil {
			resp.Body.Close()
			t.Error("OpenBAO's certificate verified without Foundry's CA")
		}
		// The key is root's 0600 file on the host, handed over by
		// LoadCredential=, and nowhere in the job records.
		if st := inside(t, bao, "stat -c '%a %U' /etc/foundry/components/openbao/tls.key"); st != "600 root" {
			t.Errorf("tls.key on the host: %s", st)
		}
		if u := inside(t, bao, "grep -c '^LoadCredential=tls.key:' /etc/systemd/system/foundry-openbao.service"); u != "1" {
			t.Errorf("unit does not load the key as a credential: %s", u)
		}
		key, err := os.ReadFile(filepath.Join(home, "openbao", "tls", "tls.key"))
		if err != nil {
			t.Fatal(err)
		}
		secret := string(key[40:80]) // a stretch of the base64 body
		cl := s.client(t)
		list, err := cl.Jobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range list.Jobs {
			rec, err := cl.Job(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(rec)
			if strings.Contains(string(b), "PRIVATE KEY") || strings.Contains(string(b), secret) {
				t.Errorf("job %s holds the OpenBAO key", j.ID)
			}
		}
		if strings.Contains(s.ctl.log.String(), "PRIVATE KEY") || strings.Contains(s.ctl.log.String(), secret) {
			t.Error("the OpenBAO key is in the controller log")
		}
	})

	t.Run("a Helm chart goes through the registry with the Helm SDK", func(t *testing.T) {
		hctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		chart, err := helmoci.BuildChart(t.TempDir(), "hello", "0.1.0")
		if err != nil {
			t.Fatal(err)
		}
		ref, digest, err := helmoci.Push(hctx, reg[0].IP+":5000", chart)
		if err != nil {
			t.Fatal(err)
		}
		_, pulled, err := helmoci.Pull(hctx, ref)
		if err != nil || pulled != digest {
			t.Fatalf("pull %s: digest %s (pushed %s), %v", ref, pulled, digest, err)
		}
	})

	t.Run("re-run changes nothing and restarts nothing", func(t *testing.T) {
		before := map[string]string{bao.Name: unitTrace(t, bao, "foundry-openbao")}
		for _, h := range reg {
			before[h.Name] = unitTrace(t, h, "foundry-zot")
		}
		out := s.must(t, "stack", "install")
		if !strings.Contains(out, "0 changed") || strings.Contains(out, "+ ") {
			t.Errorf("re-run reported changes:\n%s", out)
		}
		if got := unitTrace(t, bao, "foundry-openbao"); got != before[bao.Name] {
			t.Errorf("openbao restarted: %s -> %s", before[bao.Name], got)
		}
		for _, h := range reg {
			if got := unitTrace(t, h, "foundry-zot"); got != before[h.Name] {
				t.Errorf("%s registry restarted: %s -> %s", h.Name, before[h.Name], got)
			}
		}
	})

	t.Run("upgrade to another version and back", func(t *testing.T) {
		out := s.must(t, "component", "upgrade", "openbao", "--version", "2.2.0", "--yes")
		if !strings.Contains(out, "2.1.0 -> 2.2.0") || !strings.Contains(out, "unsealed") {
			t.Errorf("upgrade output:\n%s", out)
		}
		st := s.must(t, "component", "status", "openbao")
		if !strings.Contains(st, "2.2.0") || !strings.Contains(st, "unsealed") {
			t.Errorf("status after upgrade:\n%s", st)
		}
		if ls := inside(t, bao, "ls /opt/foundry/components/openbao"); ls != "2.2.0" {
			t.Errorf("version dirs after upgrade: %q", ls)
		}
		out = s.must(t, "component", "upgrade", "openbao", "--yes")
		if !strings.Contains(out, "2.2.0 -> 2.1.0") {
			t.Errorf("downgrade output:\n%s", out)
		}
		st = s.must(t, "component", "status", "openbao", "--json")
		if !strings.Contains(st, `"reported_version": "2.1.0"`) || !strings.Contains(st, `"component_state": "unsealed"`) {
			t.Errorf("status after downgrade:\n%s", st)
		}
		out = s.must(t, "component", "upgrade", "openbao", "--yes")
		if !strings.Contains(out, "already at 2.1.0") {
			t.Errorf("second upgrade was not a no-op:\n%s", out)
		}
		out = s.must(t, "stack", "upgrade", "--dry-run")
		if strings.Contains(out, "+ ") || !strings.Contains(out, "= artifact") {
			t.Errorf("stack upgrade plan on a converged stack:\n%s", out)
		}
		out = s.must(t, "stack", "upgrade", "--yes")
		if !strings.Contains(out, "openbao is already at 2.1.0") || !strings.Contains(out, "zot is already at 2.8.2") {
			t.Errorf("stack upgrade on a converged stack:\n%s", out)
		}
	})

	t.Run("a tampered artifact is refused and nothing is installed", func(t *testing.T) {
		s.must(t, "artifact", "import", "openbao", "2.3.0", bao22)
		cl := s.client(t)
		list, err := cl.ListArtifacts(ctx, messages.ArtifactListRequest{Component: "openbao", Version: "2.3.0"})
		if err != nil || len(list.Artifacts) != 1 || !list.Artifacts[0].Verified {
			t.Fatalf("imported 2.3.0: %+v %v", list, err)
		}
		signed := list.Artifacts[0].ArtifactRef
		// Replace the bytes after import. Operators have no JetStream
		// access and this controller runs in its own process, so the
		// tampering is an admin's upload, which drops the signature.
		b, err := os.ReadFile(bao22)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := cl.UploadArtifact(ctx, "openbao", "2.3.0", signed.File, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		// The CLI refuses at once: the store holds no signed bytes.
		code, _, errOut := s.cli("", "component", "upgrade", "openbao", "--version", "2.3.0", "--yes")
		if code == 0 || !strings.Contains(errOut, "import") {
			t.Fatalf("CLI accepted a tampered artifact: exit %d %s", code, errOut)
		}
		// And the agent refuses even a signed command that names it.
		before := unitTrace(t, bao, "foundry-openbao")
		spec := openbaoSpec(t, s, signed)
		rec := runJob(t, cl, messages.VerbServiceApply, []string{bao.Name}, spec)
		if rec.Hosts[0].State != messages.HostFailed || !strings.Contains(rec.Hosts[0].Error, "sha256") {
			t.Fatalf("agent outcome: %+v", rec.Hosts[0])
		}
		if ls := inside(t, bao, "ls /opt/foundry/components/openbao"); ls != "2.1.0" {
			t.Errorf("tampered artifact left files: %q", ls)
		}
		if got := unitTrace(t, bao, "foundry-openbao"); got != before {
			t.Errorf("openbao restarted by a refused install: %s -> %s", before, got)
		}
	})

	t.Run("kill -9 of the controller mid-install, then re-run converges", func(t *testing.T) {
		t.Cleanup(func() {
			if t.Failed() { // what the agents did is on the hosts
				for _, h := range reg {
					t.Logf("%s agent log:\n%s", h.Name, inside(t, h, "journalctl -u foundry-agent --no-pager -o cat -n 80 || true"))
				}
			}
		})
		s.must(t, "component", "uninstall", "zot", "--yes")
		done := make(chan string, 1)
		go func() {
			code, out, errOut := s.cli("", "component", "install", "zot")
			done <- fmt.Sprintf("exit %d\n%s\n%s", code, out, errOut)
		}()
		// Wait until an agent is at work (the version dir appears), then kill.
		eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
			if out := inside(t, reg[0], "ls -a /opt/foundry/components/zot 2>/dev/null || true"); out == "" {
				return fmt.Errorf("install not started")
			}
			return nil
		})
		s.ctl.kill()
		t.Logf("install interrupted: %s", <-done)
		s.ctl.start()
		// The registry still says online from before the kill; wait until
		// every agent has really reconnected and answers.
		cl := s.client(t)
		eventually(t, 90*time.Second, 500*time.Millisecond, func() error {
			res, err := cl.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 5_000})
			if err != nil {
				return err
			}
			if len(res.Responded) < 3 {
				return fmt.Errorf("%d of 3 agents answer again (missing %v)", len(res.Responded), res.Missing)
			}
			return nil
		})
		s.must(t, "stack", "install")
		for _, h := range reg {
			if m := inside(t, h, "systemctl is-active foundry-zot"); m != "active" {
				t.Errorf("%s: registry %s after re-run", h.Name, m)
			}
			if ls := inside(t, h, "ls -a /opt/foundry/components/zot/2.8.2 /etc/foundry/components/zot"); strings.Contains(ls, ".tmp") {
				t.Errorf("%s: temporary files left: %s", h.Name, ls)
			}
		}
		if out := s.must(t, "stack", "install"); !strings.Contains(out, "0 changed") {
			t.Errorf("third run is not a no-op:\n%s", out)
		}
	})
}

// openbaoSpec builds the 2.1.0 spec shape around another artifact, as a
// controller would sign it, for the agent-side refusal.
func openbaoSpec(t *testing.T, s *stackEnv, art messages.ArtifactRef) messages.ServiceSpec {
	t.Helper()
	return messages.ServiceSpec{Component: "openbao", Version: art.Version, Artifact: art,
		Args:   []string{"server", "-config=/etc/foundry/components/openbao/config.hcl"},
		Files:  []messages.ServiceFile{{Name: "config.hcl", Content: "# tampered test\n"}},
		Health: messages.ServiceHealth{URL: "http://127.0.0.1:8200/v1/sys/health?sealedcode=200&uninitcode=200"}}
}

func runJob(t *testing.T, cl *client.Client, verb string, hosts []string, payload any) messages.JobRecord {
	t.Helper()
	b, _ := json.Marshal(payload)
	rec, err := cl.RunJob(context.Background(), messages.JobRunRequest{Verb: verb, Hosts: hosts, Payload: b, MaxFailures: "100%", TimeoutMs: 120_000})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, 200*time.Millisecond, func() error {
		r, err := cl.Job(context.Background(), rec.ID)
		if err != nil {
			return err
		}
		rec = r
		if r.State == messages.JobRunning {
			return fmt.Errorf("job %s still running", r.ID)
		}
		return nil
	})
	return rec
}
