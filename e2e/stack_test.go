package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// stackCharts are the nine cluster components, the chart file each one's
// import names, and its version, as in ../shared/charts.
var stackCharts = []struct{ component, chart, version string }{
	{"cert-manager", "cert-manager", "v1.21.1"},
	{"contour", "contour", "21.1.4"},
	{"external-dns", "external-dns", "1.21.1"},
	{"prometheus", "prometheus", "29.27.0"},
	{"loki", "loki", "18.11.0"},
	{"grafana", "grafana", "12.11.1"},
	{"minio", "minio", "5.4.0"},
	{"velero", "velero", "12.1.0"},
	{"argocd", "argo-cd", "10.1.1"},
}

// grafanaCanary is Grafana's admin password: set with foundry secret set,
// it must reach the cluster as a Secret and nowhere else.
const grafanaCanary = "canary-Graf4na-e2e-0xDEC0DE"

func stackYAML(bao, reg harness.Host, nodes []harness.Host, grafanaExtra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: \"1.0\"\ncluster:\n  name: e2e\n  domain: e2e.test\n  nodes:\n")
	for i, n := range nodes {
		role := "worker"
		if i == 0 {
			role = "control-plane"
		}
		fmt.Fprintf(&b, "    - hostname: %s\n      address: %s\n      role: %s\n", n.Name, n.IP, role)
	}
	fmt.Fprintf(&b, `components:
  openbao:
    version: "2.1.0"
    hosts: [%[1]s]
    storage: file
  k3s:
    version: %[3]q
    disable: [traefik]
  zot:
    version: "2.8.2"
    flavor: distribution
    hosts: [%[2]s]
  cert-manager:
    version: v1.21.1
    # The stand-in's pods are simulated: cert-manager's webhook never
    # answers, so issuers (custom resources it validates) could not be
    # created. e2e/helmtest's TestIssuersServerSideApplyOnK3sStandin
    # applies them against the chart's CRDs instead.
    issuer: none
  contour:
    version: "21.1.4"
  external-dns:
    version: "1.21.1"
    provider: rfc2136
    domain_filters: [e2e.test]
  prometheus:
    version: "29.27.0"
  loki:
    version: "18.11.0"
  grafana:
    version: "12.11.1"
    admin_password: ${secret:foundry/grafana:admin_password}
%[5]s  minio:
    version: "5.4.0"
  velero:
    version: "12.1.0"
  argocd:
    version: "10.1.1"
foundry:
  ssh_keys: file
  openbao:
    address: https://%[4]s:8200
`, bao.Name, reg.Name, k3sVersion, bao.IP, grafanaExtra)
	return b.String()
}

// TestStackInstallOnK3sStandin installs the whole stack with `stack
// install` on three bare-but-added test hosts: the OpenBAO double, the
// distribution registry, K3s (the stand-in: real API server, controllers
// and scheduler, kwok for the kubelet) and the nine Helm charts of
// ../shared/charts. The stand-in has no local-path provisioner, so the
// test binds each claim to a volume of its own (localPathDouble).
func TestStackInstallOnK3sStandin(t *testing.T) {
	all := hosts(t)
	if len(all) < 3 {
		t.Fatalf("the stack test needs 3 hosts, have %d", len(all))
	}
	hs := all[:3]
	ctx := context.Background()
	for _, h := range hs {
		if err := harness.Reset(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	chartsDir := chartstest.Dir(t)
	standin := harness.K3sStandin(t)
	bin := t.TempDir()
	foundry := goBuild(t, filepath.Join(bin, "foundry"), "../cmd/foundry", "")
	bao21 := goBuild(t, filepath.Join(bin, "2.1.0", "bao"), "./doubles/openbao/cmd/openbao-double", "-X main.version=2.1.0")
	regBin, err := exec.Command("bash", "testbed/registry-artifact.sh").Output()
	if err != nil {
		t.Fatalf("get the docker-registry binary: %v", err)
	}
	home := t.TempDir()
	t.Setenv("FOUNDRY_HOME", home)
	s := &stackEnv{t: t, home: home, ctl: &procController{t: t, bin: foundry, dataDir: filepath.Join(home, "controller"), listen: freePort(t, harness.ControllerIP)}}
	s.ctl.start()
	t.Cleanup(func() { s.ctl.stop() })
	cfgPath := filepath.Join(home, "stack.yaml")
	writeStack := func(t *testing.T, body string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := stackYAML(hs[0], hs[1], hs, "")
	writeStack(t, base)

	var mu sync.Mutex
	var outputs []string // every CLI output, for the secrets check
	keep := func(s ...string) {
		mu.Lock()
		defer mu.Unlock()
		outputs = append(outputs, s...)
	}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out := s.must(t, args...)
		keep(out)
		return out
	}
	fails := func(t *testing.T, want string, args ...string) string {
		t.Helper()
		code, out, errOut := s.cliT(t, "", args...)
		keep(out, errOut)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("foundry %s: exit %d, want an error naming %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		last := strings.TrimSpace(errOut)
		if i := strings.LastIndex(last, "\n"); i >= 0 {
			last = last[i+1:]
		}
		return last
	}

	code, out, errOut := s.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, hs), "--password-stdin", "--yes", "--agent-binary", agentBinary(t))
	if code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}
	importStart := time.Now()
	run(t, "artifact", "import", "openbao", "2.1.0", bao21)
	run(t, "artifact", "import", "zot", "2.8.2", strings.TrimSpace(string(regBin)))
	run(t, "artifact", "import", "k3s", k3sVersion, standin)
	for _, c := range stackCharts {
		run(t, "artifact", "import", c.component, c.version, filepath.Join(chartsDir, c.chart+"-"+c.version+".tgz"))
	}
	t.Logf("BENCH import of 12 artifacts: %s", time.Since(importStart).Round(100*time.Millisecond))

	// OpenBAO first, so that Grafana's password can be set in it; the
	// stack install after it finds OpenBAO as configured.
	baoStart := time.Now()
	run(t, "component", "install", "openbao")
	t.Logf("BENCH component install openbao: %s", time.Since(baoStart).Round(100*time.Millisecond))
	setSecret := func(t *testing.T, path, key, value string) {
		t.Helper()
		code, out, errOut := s.cliT(t, value+"\n", "secret", "set", path, "--key", key)
		keep(out, errOut)
		if code != 0 {
			t.Fatalf("secret set %s:%s: exit %d\n%s\n%s", path, key, code, out, errOut)
		}
	}
	setSecret(t, "foundry/grafana", "admin_password", grafanaCanary)
	setSecret(t, "foundry/minio", "root_user", "minio-admin")
	setSecret(t, "foundry/minio", "root_password", "minio-e2e-Secret-77")

	caFile := filepath.Join(s.ctl.dataDir, "ca.pem")
	kubeClient := func() (kubernetes.Interface, error) {
		f, err := stackconfig.Load(cfgPath)
		if err != nil {
			return nil, err
		}
		st, _, err := kube.OpenStore(home, &f.Config, os.Getenv, caFile)
		if err != nil {
			return nil, err
		}
		kc, err := st.LoadKubeconfig(ctx, "e2e")
		if err != nil {
			return nil, err
		}
		cl, err := kube.New(kc)
		if err != nil {
			return nil, err
		}
		return cl.Kube, nil
	}
	pvCtx, stopPV := context.WithCancel(ctx)
	pvDone := make(chan struct{})
	go func() { defer close(pvDone); localPathDouble(pvCtx, t, kubeClient) }()
	defer func() { stopPV(); <-pvDone }()

	status := func(t *testing.T, name string) helm.Status {
		t.Helper()
		_, out, errOut := s.cliT(t, "", "component", "status", name, "--json")
		keep(out, errOut)
		var st helm.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status %s: %v\n%s%s", name, err, out, errOut)
		}
		return st
	}
	revisions := func(t *testing.T) map[string]int {
		t.Helper()
		revs := map[string]int{}
		for _, c := range stackCharts {
			revs[c.component] = status(t, c.component).Revision
		}
		return revs
	}

	var first map[string]int
	t.Run("stack install from bare: every release deployed and ready, status healthy", func(t *testing.T) {
		start := time.Now()
		out := run(t, "stack", "install")
		t.Logf("BENCH stack install (first): %s\n%s", time.Since(start).Round(100*time.Millisecond), out)
		for _, c := range stackCharts {
			st := status(t, c.component)
			if st.Status != "deployed" || !st.Ready || len(st.Workloads) == 0 || st.ChartVersion != c.version {
				t.Errorf("%s: %+v, want deployed %s with every workload ready", c.component, st, c.version)
			}
		}
		first = revisions(t)
		st := run(t, "stack", "status")
		for _, want := range []string{"openbao", "zot", "k3s", "grafana", "argocd", "minio", "release deployed/1"} {
			if !strings.Contains(st, want) {
				t.Errorf("stack status lacks %q:\n%s", want, st)
			}
		}
		// What the web view's stack page shows of the cluster: the
		// releases stack status read, as it reported them.
		list, err := s.client(t).Stack(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reported := map[string]messages.ClusterComponentStatus{}
		for _, c := range list.Components {
			reported[c.Component] = c
		}
		for _, c := range stackCharts {
			r, ok := reported[c.component]
			if !ok || r.Status != "deployed" || !r.Healthy || r.ChartVersion != c.version || r.CheckedAt == 0 || r.Operator == "" {
				t.Errorf("the controller's stack report for %s is %+v (present %v), want deployed, healthy, chart %s, checked, with an operator", c.component, r, ok, c.version)
			}
		}
	})
	if first == nil {
		t.FailNow()
	}

	t.Run("re-run changes nothing and bumps no revision", func(t *testing.T) {
		start := time.Now()
		out := run(t, "stack", "install")
		t.Logf("BENCH stack install (re-run): %s\n%s", time.Since(start).Round(100*time.Millisecond), out)
		if !strings.Contains(out, "component(s), 0 changed") {
			t.Errorf("re-run reported changes:\n%s", out)
		}
		if got := revisions(t); fmt.Sprint(got) != fmt.Sprint(first) {
			t.Errorf("revisions moved: %v -> %v", first, got)
		}
	})

	t.Run("Grafana's password is a Secret in the cluster", func(t *testing.T) {
		cs, err := kubeClient()
		if err != nil {
			t.Fatal(err)
		}
		sec, err := cs.CoreV1().Secrets("monitoring").Get(ctx, "grafana", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(sec.Data["admin-password"]) != grafanaCanary {
			t.Errorf("Secret monitoring/grafana admin-password is not the password set with foundry secret set")
		}
	})

	t.Run("upgrade grafana: dry-run diff, one revision, impossible upgrade rolled back", func(t *testing.T) {
		writeStack(t, stackYAML(hs[0], hs[1], hs, "    plugins: [grafana-piechart-panel]\n"))
		defer writeStack(t, base)
		before := status(t, "grafana").Revision
		out := run(t, "component", "upgrade", "grafana", "--dry-run")
		if !strings.Contains(out, "# diff of the rendered manifests") || !strings.Contains(out, "grafana-piechart-panel") || !strings.Contains(out, "<secret>") {
			t.Errorf("dry-run shows no diff:\n%s", out)
		}
		if got := status(t, "grafana").Revision; got != before {
			t.Fatalf("dry-run moved the revision %d -> %d", before, got)
		}
		out = run(t, "component", "upgrade", "grafana", "--yes")
		if st := status(t, "grafana"); st.Revision != before+1 || !st.Ready {
			t.Fatalf("upgrade: revision %d -> %d (ready %v), want exactly one more\n%s", before, st.Revision, st.Ready, out)
		}
		// Nothing can be scheduled while every node is cordoned, so the
		// next upgrade's new pod never runs: it must be rolled back.
		cs, err := kubeClient()
		if err != nil {
			t.Fatal(err)
		}
		cordon(t, cs, true)
		defer cordon(t, cs, false)
		writeStack(t, stackYAML(hs[0], hs[1], hs, "    plugins: [grafana-piechart-panel, grafana-clock-panel]\n"))
		msg := fails(t, "rolled back", "component", "upgrade", "grafana", "--yes", "--timeout", "30s")
		t.Logf("reported: %s", msg)
		cordon(t, cs, false)
		st := status(t, "grafana")
		if st.Revision != before+3 || st.Status != "deployed" {
			t.Errorf("after the rollback: %+v, want revision %d deployed (failed %d, restored as %d)", st, before+3, before+2, before+3)
		}
		eventually(t, 2*time.Minute, time.Second, func() error {
			if st := status(t, "grafana"); !st.Ready {
				return fmt.Errorf("grafana not ready after the rollback: %+v", st.Workloads)
			}
			return nil
		})
	})

	t.Run("bad input: one-line errors, nothing changed", func(t *testing.T) {
		before := revisions(t)
		oneLine := func(t *testing.T, want string, args ...string) {
			t.Helper()
			code, out, errOut := s.cliT(t, "", args...)
			keep(out, errOut)
			if code == 0 || !strings.Contains(errOut, want) || strings.Contains(strings.TrimSpace(errOut), "\n") {
				t.Errorf("foundry %s: exit %d, want a one-line error naming %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
			}
			t.Logf("foundry %s: %s", strings.Join(args, " "), strings.TrimSpace(errOut))
		}
		oneLine(t, "foundry artifact import grafana 99.9.9", "component", "install", "grafana", "--version", "99.9.9")
		noProm := strings.Replace(base, "  prometheus:\n    version: \"29.27.0\"\n", "", 1)
		writeStack(t, noProm)
		oneLine(t, "prometheus", "stack", "install")
		writeStack(t, base)
		if got := revisions(t); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("bad input moved revisions: %v -> %v", before, got)
		}
	})

	t.Run("kill -9 of the CLI mid stack install, then re-run: converges", func(t *testing.T) {
		run(t, "component", "uninstall", "argocd", "--yes")
		run(t, "component", "uninstall", "velero", "--yes")
		cmd := exec.Command(foundry, "--controller", "tls://"+s.ctl.listen, "--creds", filepath.Join(s.ctl.dataDir, "admin.nk"),
			"--ca", caFile, "--config", cfgPath, "stack", "install")
		cmd.Env = append(os.Environ(), "FOUNDRY_HOME="+home)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		var seen strings.Builder
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		reached := make(chan bool, 1)
		var seenMu sync.Mutex
		go func() {
			sc := bufio.NewScanner(stderr)
			sent := false
			for sc.Scan() {
				seenMu.Lock()
				seen.WriteString(sc.Text() + "\n")
				seenMu.Unlock()
				if !sent && strings.HasPrefix(sc.Text(), "installing velero") {
					reached <- true
					sent = true
				}
			}
			if !sent {
				reached <- false
			}
		}()
		transcript := func() string {
			seenMu.Lock()
			defer seenMu.Unlock()
			return seen.String()
		}
		select {
		case ok := <-reached:
			if !ok {
				t.Fatalf("stack install ended before it reached velero:\n%s", transcript())
			}
		case <-time.After(5 * time.Minute):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			t.Fatalf("stack install did not reach velero in 5 minutes:\n%s", transcript())
		}
		// Kill once Helm has written velero's first release record: the
		// install is then under way in the cluster (its pre-install hook
		// or the readiness wait).
		cs, err := kubeClient()
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, 50*time.Millisecond, func() error {
			_, err := cs.CoreV1().Secrets("velero").Get(ctx, "sh.helm.release.v1.velero.v1", metav1.GetOptions{})
			return err
		})
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		keep(transcript())
		if sec, err := cs.CoreV1().Secrets("velero").Get(ctx, "sh.helm.release.v1.velero.v1", metav1.GetOptions{}); err == nil {
			t.Logf("killed with velero's release record labelled status=%s", sec.Labels["status"])
		}
		out := run(t, "stack", "install")
		if !strings.Contains(out, "velero") || !strings.Contains(out, "argocd") {
			t.Errorf("re-run after the kill:\n%s", out)
		}
		for _, c := range []string{"velero", "argocd"} {
			if st := status(t, c); st.Status != "deployed" || !st.Ready {
				t.Errorf("%s after the re-run: %+v", c, st)
			}
		}
		run(t, "stack", "status")
	})

	t.Run("unreachable cluster: one-line error, nothing half-installed", func(t *testing.T) {
		before := revisions(t)
		inside(t, hs[0], "systemctl stop foundry-k3s")
		code, out, errOut := s.cliT(t, "", "component", "install", "grafana")
		keep(out, errOut)
		// The error is the last line; lines before it may only be the
		// notes saying where the chart came from.
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		notes := true
		for _, l := range lines[:len(lines)-1] {
			notes = notes && strings.HasPrefix(l, "chart grafana ")
		}
		if last := lines[len(lines)-1]; code == 0 || !strings.HasPrefix(last, "Error: ") || !strings.Contains(last, "cluster e2e") || !notes {
			t.Errorf("component install grafana with the API down: exit %d, want a one-line error naming the cluster\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		t.Logf("unreachable cluster: %s", errOut)
		inside(t, hs[0], "systemctl start foundry-k3s")
		eventually(t, 3*time.Minute, 2*time.Second, func() error {
			code, out, errOut := s.cliT(t, "", "stack", "status")
			if code != 0 {
				return fmt.Errorf("stack status exit %d:\n%s%s", code, out, errOut)
			}
			return nil
		})
		if got := revisions(t); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("revisions moved: %v -> %v", before, got)
		}
	})

	t.Run("Grafana's password appears in no output, log or job record", func(t *testing.T) {
		hay := strings.Join(outputs, "\n") + s.ctl.log.String()
		hay += s.must(t, "events", "list", "--since", "2h", "--json") + s.must(t, "audit", "list", "--json")
		for _, id := range jobIDs(s.must(t, "job", "list", "--json")) {
			hay += s.must(t, "job", "show", id, "--json")
		}
		for _, h := range hs {
			hay += inside(t, h, "journalctl --no-pager -o cat 2>/dev/null | tail -n 5000")
		}
		if !strings.Contains(hay, "grafana") || strings.Contains(hay, grafanaCanary) {
			t.Errorf("the Grafana password leaked (or the haystack is empty: %d bytes)", len(hay))
		}
	})
}

// cordon marks every node (un)schedulable.
func cordon(t *testing.T, cs kubernetes.Interface, on bool) {
	t.Helper()
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		patch := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, on)
		if _, err := cs.CoreV1().Nodes().Patch(context.Background(), n.Name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// localPathDouble stands in for k3s's local-path provisioner, which the
// k3s stand-in does not ship: every Pending claim gets a hostPath volume
// bound to it, so charts that ask for storage (Prometheus, Loki, MinIO,
// Alertmanager) schedule as they would on k3s. It polls until ctx ends;
// the cluster may not exist yet when it starts.
func localPathDouble(ctx context.Context, t *testing.T, client func() (kubernetes.Interface, error)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var cs kubernetes.Interface
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if cs == nil {
			c, err := client()
			if err != nil {
				continue
			}
			cs = c
		}
		pvcs, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, c := range pvcs.Items {
			if c.Status.Phase != corev1.ClaimPending || c.Spec.VolumeName != "" {
				continue
			}
			size := c.Spec.Resources.Requests[corev1.ResourceStorage]
			if size.IsZero() {
				size = resource.MustParse("1Gi")
			}
			modes := c.Spec.AccessModes
			if len(modes) == 0 {
				modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
			}
			class := ""
			if c.Spec.StorageClassName != nil {
				class = *c.Spec.StorageClassName
			}
			pv := &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: "local-path-double-" + string(c.UID), Labels: map[string]string{"foundry.test/double": "local-path"}},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
					AccessModes:                   modes,
					StorageClassName:              class,
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
					ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
					PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/local-path-double/" + c.Namespace + "-" + c.Name}},
				},
			}
			if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err == nil {
				t.Logf("local-path double: bound %s/%s", c.Namespace, c.Name)
			}
		}
	}
}
