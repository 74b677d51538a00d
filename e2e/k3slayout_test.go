package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/messages"
)

// buildFakeK3s builds e2e/testdata/fakek3s, the k3s test double.
func buildFakeK3s(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "k3s")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./testdata/fakek3s")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fakek3s: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// k3sPIDs lists the processes in foundry-k3s.service's cgroup (read
// from each process's /proc/<pid>/cgroup, whatever the cgroup layout).
func k3sPIDs(t *testing.T, h harness.Host) []string {
	t.Helper()
	return strings.Fields(inside(t, h, "grep -l '/foundry-k3s.service$' /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | sort -n || true"))
}

// TestK3sLayoutWithTestDouble installs a k3s TEST DOUBLE (fakek3s: no
// Kubernetes, only k3s's process and file behaviour) as the component
// k3s through a real agent on a real systemd host: the unit runs it as
// root under Type=notify, the token is root's alone, the kubeconfig comes
// back sealed, and remove --purge kills what KillMode=process leaves and
// deletes /etc/rancher/k3s and /var/lib/rancher/k3s.
func TestK3sLayoutWithTestDouble(t *testing.T) {
	h := hosts(t)[2]
	one := []harness.Host{h}
	if inside(t, h, "ls -d /etc/foundry /opt/foundry /etc/rancher /var/lib/rancher 2>/dev/null | wc -l") != "0" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := harness.Reset(ctx, h); err != nil {
			t.Fatalf("reset %s: %v", h.Name, err)
		}
	}
	f := newFleet(t)
	if code, out, errOut := f.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, one),
		"--password-stdin", "--yes", "--agent-binary", f.agent); code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}
	cl := f.client()
	const version = "v1.31.4+k3s1"
	const token = "K10e2e-token-canary-3b7d"
	ref := f.publishSvcArtifact(t, messages.K3sComponent, version, "k3s", buildFakeK3s(t))
	spec := messages.ServiceSpec{Component: messages.K3sComponent, Version: version, Artifact: ref, Args: []string{"server"},
		Files: []messages.ServiceFile{
			{Name: "config.yaml", Content: "token-file: /etc/rancher/k3s/token\nnode-name: " + h.Name + "\n"},
			{Name: "registries.yaml", Content: "mirrors: {}\n"},
			{Name: "token", Content: token, Secret: true}},
		Health: messages.ServiceHealth{URL: "http://127.0.0.1:10248/healthz"}}

	t.Run("apply runs it as root, with the token root's alone", func(t *testing.T) {
		rec := svcJob(t, cl, messages.VerbServiceApply, one, spec)
		svcMustSucceed(t, rec)
		r := svcResults[messages.ServiceApplyReply](t, rec)[h.Name]
		if svcChanged(r) != "artifact,config,unit,enable,start" {
			t.Fatalf("apply: %+v", r)
		}
		pid := inside(t, h, "systemctl show -p MainPID --value foundry-k3s.service")
		if uid := inside(t, h, "stat -c %u /proc/"+pid); uid != "0" {
			t.Errorf("k3s runs as uid %s", uid)
		}
		props := map[string]string{}
		for _, line := range strings.Split(inside(t, h, "systemctl show -p Type -p KillMode -p Delegate -p User -p DynamicUser foundry-k3s.service"), "\n") {
			k, v, _ := strings.Cut(line, "=")
			props[k] = v
		}
		if want := map[string]string{"Type": "notify", "User": "", "DynamicUser": "no", "KillMode": "process", "Delegate": "yes"}; fmt.Sprint(props) != fmt.Sprint(want) {
			t.Errorf("systemd sees the unit as %v, want %v", props, want)
		}
		modes := inside(t, h, "stat -c '%n %a %U' /etc/rancher/k3s/token /etc/rancher/k3s/config.yaml /etc/rancher/k3s/registries.yaml /etc/rancher/k3s/k3s.yaml")
		want := "/etc/rancher/k3s/token 600 root\n/etc/rancher/k3s/config.yaml 644 root\n/etc/rancher/k3s/registries.yaml 644 root\n/etc/rancher/k3s/k3s.yaml 600 root"
		if modes != want {
			t.Errorf("modes:\n%s\nwant\n%s", modes, want)
		}
		if pids := k3sPIDs(t, h); len(pids) != 2 {
			t.Errorf("the cgroup holds %v; want k3s and its child", pids)
		}
	})

	t.Run("re-apply changes nothing, status reads the unit", func(t *testing.T) {
		pid := inside(t, h, "systemctl show -p MainPID --value foundry-k3s.service")
		rec := svcJob(t, cl, messages.VerbServiceApply, one, spec)
		svcMustSucceed(t, rec)
		if r := svcResults[messages.ServiceApplyReply](t, rec)[h.Name]; r.Changed {
			t.Fatalf("re-apply: %+v", r)
		}
		if again := inside(t, h, "systemctl show -p MainPID --value foundry-k3s.service"); again != pid {
			t.Fatalf("restarted: pid %s -> %s", pid, again)
		}
		rec = svcJob(t, cl, messages.VerbServiceStatus, one, messages.ServiceQuery{Component: messages.K3sComponent, Health: &spec.Health})
		svcMustSucceed(t, rec)
		st := svcResults[messages.ServiceStatus](t, rec)[h.Name]
		if !st.Installed || st.Version != version || st.BinarySHA256 != ref.SHA256 || st.ActiveState != "active" ||
			fmt.Sprint(st.MainPID) != pid || st.HealthStatus != 200 || st.HealthBody != "ok server uid=0" {
			t.Fatalf("status %+v", st)
		}
	})

	t.Run("the kubeconfig comes back sealed", func(t *testing.T) {
		pub, priv, err := messages.NewK3sKubeconfigKey()
		if err != nil {
			t.Fatal(err)
		}
		rec := svcJob(t, cl, messages.VerbK3sKubeconfig, one, messages.K3sKubeconfigRequest{Recipient: pub[:]})
		svcMustSucceed(t, rec)
		reply, err := messages.DecodeK3sKubeconfigReply(rec.Hosts[0].Result)
		if err != nil {
			t.Fatal(err)
		}
		got, err := messages.OpenK3sKubeconfig(reply, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		onHost := inside(t, h, "cat /etc/rancher/k3s/k3s.yaml")
		if strings.TrimSpace(string(got)) != onHost || !strings.Contains(onHost, "client-key-data: fakek3s-") {
			t.Fatalf("opened %q, the host has %q", got, onHost)
		}
		if strings.Contains(string(rec.Hosts[0].Result), "fakek3s-") {
			t.Fatal("the job record holds the kubeconfig in the clear")
		}
	})

	t.Run("KillMode=process: a plain stop leaves the child, which is why remove kills", func(t *testing.T) {
		before := k3sPIDs(t, h)
		inside(t, h, "systemctl stop foundry-k3s.service")
		left := k3sPIDs(t, h)
		if len(left) != 1 || len(before) != 2 || !strings.Contains(strings.Join(before, " "), left[0]) {
			t.Fatalf("before the stop %v, after %v; want the child left", before, left)
		}
		// Apply starts it again (and leaves the old child: only remove kills).
		rec := svcJob(t, cl, messages.VerbServiceApply, one, spec)
		svcMustSucceed(t, rec)
		if r := svcResults[messages.ServiceApplyReply](t, rec)[h.Name]; svcChanged(r) != "start" {
			t.Fatalf("apply after a stop: %+v", r)
		}
	})

	t.Run("remove --purge kills what is left and cleans both k3s directories", func(t *testing.T) {
		pids := k3sPIDs(t, h)
		if len(pids) < 2 {
			t.Fatalf("cgroup %v", pids)
		}
		rec := svcJob(t, cl, messages.VerbServiceRemove, one, messages.ServiceQuery{Component: messages.K3sComponent, Purge: true})
		svcMustSucceed(t, rec)
		r := svcResults[messages.ServiceRemoveReply](t, rec)[h.Name]
		if !strings.Contains(strings.Join(r.Removed, ","), "/etc/rancher/k3s,/var/lib/rancher/k3s") {
			t.Fatalf("remove: %+v", r)
		}
		eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
			for _, p := range pids {
				if inside(t, h, "test -e /proc/"+p+" && echo alive || echo gone") == "alive" {
					return fmt.Errorf("pid %s of foundry-k3s.service still runs", p)
				}
			}
			return nil
		})
		if left := inside(t, h, "ls -d /etc/rancher/k3s /var/lib/rancher/k3s /opt/foundry/components/k3s /etc/systemd/system/foundry-k3s.service 2>/dev/null | wc -l"); left != "0" {
			t.Fatalf("left on the host: %s", left)
		}
		if got := inside(t, h, "systemctl show -p LoadState --value foundry-k3s.service"); got != "not-found" {
			t.Fatalf("systemd still has the unit: %s", got)
		}
	})

	t.Run("the token is in no journal", func(t *testing.T) {
		if n := inside(t, h, "journalctl --no-pager -o cat | grep -c "+token+" || true"); n != "0" {
			t.Fatalf("the journal shows the token %s times", n)
		}
	})
}

// TestSandboxedSecretThroughLoadCredential: a secret file of a sandboxed
// (DynamicUser) service is root's alone on disk, and systemd hands it to
// the service in its credentials directory.
func TestSandboxedSecretThroughLoadCredential(t *testing.T) {
	h := hosts(t)[2]
	one := []harness.Host{h}
	if inside(t, h, "ls -d /etc/foundry /opt/foundry 2>/dev/null | wc -l") != "0" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := harness.Reset(ctx, h); err != nil {
			t.Fatalf("reset %s: %v", h.Name, err)
		}
	}
	f := newFleet(t)
	if code, out, errOut := f.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, one),
		"--password-stdin", "--yes", "--agent-binary", f.agent); code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}
	cl := f.client()
	const secret = "api-key-canary-c41f"
	spec := messages.ServiceSpec{Component: svcName, Version: "1.0.0",
		Artifact: f.publishSvcArtifact(t, svcName, "1.0.0", "hello", buildHellosvc(t, "1.0.0")),
		Args:     []string{"-addr", "127.0.0.1:" + svcPort, "-config", svcConf},
		Files: []messages.ServiceFile{{Name: "hello.conf", Content: "greeting = hi\n"},
			{Name: "api.key", Content: secret, Secret: true}},
		Health: messages.ServiceHealth{URL: "http://127.0.0.1:" + svcPort + "/health"}}
	rec := svcJob(t, cl, messages.VerbServiceApply, one, spec)
	svcMustSucceed(t, rec)
	if got := inside(t, h, "stat -c '%a %U' /etc/foundry/components/hellosvc/api.key"); got != "600 root" {
		t.Errorf("api.key is %s", got)
	}
	if got := inside(t, h, "cat /run/credentials/foundry-hellosvc.service/api.key"); got != secret {
		t.Errorf("the credential holds %q", got)
	}
	if n := inside(t, h, "journalctl --no-pager -o cat | grep -c "+secret+" || true"); n != "0" {
		t.Errorf("the journal shows the secret %s times", n)
	}
	rec = svcJob(t, cl, messages.VerbServiceRemove, one, messages.ServiceQuery{Component: svcName, Purge: true})
	svcMustSucceed(t, rec)
}
