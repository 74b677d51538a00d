package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// k3sVersion labels the stand-in artifact as k3s labels its releases.
const k3sVersion = "v1.35.4+k3s-standin"

// clusterEnv is a stack whose secrets live in the OpenBAO test double
// (in this process, on loopback) and whose k3s is the stand-in.
type clusterEnv struct {
	*stackEnv
	bao    *openbao.Server
	baoURL string
}

const baoRoot = "e2e-root-token"

func (c *clusterEnv) writeConfig(t *testing.T, name string, ha bool, nodes map[harness.Host]string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: \"1.0\"\ncluster:\n  name: %s\n  domain: e2e.test\n  nodes:\n", name)
	for _, h := range sortedHosts(nodes) {
		fmt.Fprintf(&b, "    - hostname: %s\n      address: %s\n      role: %s\n", h.Name, h.IP, nodes[h])
	}
	fmt.Fprintf(&b, "components:\n  openbao:\n    version: \"2.1.0\"\n    hosts: [%s]\n  k3s:\n    ha: %v\n    disable: [traefik]\n", sortedHosts(nodes)[0].Name, ha)
	fmt.Fprintf(&b, "foundry:\n  ssh_keys: file\n  openbao:\n    address: %s\n", c.baoURL)
	if err := os.WriteFile(filepath.Join(c.home, "stack.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func sortedHosts(m map[harness.Host]string) []harness.Host {
	var out []harness.Host
	for h := range m {
		out = append(out, h)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Index < out[i].Index {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// kube opens the cluster with the kubeconfig Foundry stored in OpenBAO:
// the test reads the API the way an operator's kubectl would.
func (c *clusterEnv) kube(t *testing.T, cluster string) *kube.Client {
	t.Helper()
	kc, err := kube.NewStore(c.home, c.baoClient(t)).LoadKubeconfig(context.Background(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kube.New(kc)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func k3sGone(t *testing.T, h harness.Host) {
	t.Helper()
	out := inside(t, h, "ls /etc/systemd/system/foundry-k3s.service /etc/rancher/k3s /var/lib/rancher/k3s /opt/foundry/components/k3s 2>&1; pgrep -f 'k3s (server|agent)' || true")
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.Contains(line, "No such file") {
			t.Errorf("%s: k3s left behind: %q", h.Name, line)
		}
	}
}

// TestClusterOnK3sStandin installs K3s through the agents on real test
// hosts. The k3s binary is the stand-in (e2e/k3s-standin): the real
// kube-apiserver, controller-manager, scheduler and etcd, with kwok
// simulating each node's kubelet and containers.
func TestClusterOnK3sStandin(t *testing.T) {
	all := hosts(t)
	if len(all) < 4 {
		t.Fatalf("the cluster test needs 4 hosts, have %d", len(all))
	}
	ctx := context.Background()
	for _, h := range all {
		if err := harness.Reset(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	standin := harness.K3sStandin(t)
	bin := t.TempDir()
	foundry := goBuild(t, filepath.Join(bin, "foundry"), "../cmd/foundry", "")
	home := t.TempDir()
	t.Setenv("FOUNDRY_HOME", home)
	t.Setenv("BAO_TOKEN", baoRoot)
	srv := openbao.NewDev(baoRoot)
	srv.EnableKV("secret")
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c := &clusterEnv{stackEnv: &stackEnv{t: t, home: home, ctl: &procController{t: t, bin: foundry, dataDir: filepath.Join(home, "controller"), listen: freePort(t, harness.ControllerIP)}}, bao: srv, baoURL: ts.URL}
	c.ctl.start()
	t.Cleanup(func() { c.ctl.stop() })
	server, w1, w2, extra := all[0], all[1], all[2], all[3]
	c.writeConfig(t, "e2e", false, map[harness.Host]string{server: "control-plane", w1: "worker", w2: "worker"})
	if code, out, errOut := c.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, all[:4]), "--password-stdin", "--yes", "--agent-binary", agentBinary(t)); code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}
	var outputs []string // every CLI output, for the secrets check
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out := c.must(t, args...)
		outputs = append(outputs, out)
		return out
	}
	fails := func(t *testing.T, want string, args ...string) {
		t.Helper()
		code, out, errOut := c.cliT(t, "", args...)
		outputs = append(outputs, out+errOut)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("foundry %s: exit %d, want an error naming %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		if n := strings.Count(strings.TrimSpace(errOut), "\n"); n > 0 && !strings.Contains(errOut, "Error") {
			t.Logf("stderr has %d lines", n+1)
		}
	}
	noK3sAnywhere := func(t *testing.T) {
		t.Helper()
		for _, h := range all[:4] {
			k3sGone(t, h)
		}
	}

	t.Run("bad input changes nothing", func(t *testing.T) {
		fails(t, "foundry artifact import k3s", "cluster", "init")
		fails(t, "foundry host add fe-9 first", "cluster", "node", "add", "fe-9")
		noCP := filepath.Join(home, "no-cp.yaml")
		cfg, _ := os.ReadFile(filepath.Join(home, "stack.yaml"))
		if err := os.WriteFile(noCP, []byte(strings.ReplaceAll(string(cfg), "control-plane", "worker")), 0o600); err != nil {
			t.Fatal(err)
		}
		fails(t, "control-plane", "--config", noCP, "cluster", "init")
		noK3sAnywhere(t)
	})

	run(t, "artifact", "import", "k3s", k3sVersion, standin)

	t.Run("dry run plans and changes nothing", func(t *testing.T) {
		out := run(t, "cluster", "init", "--dry-run")
		for _, want := range []string{"+ artifact", "+ config", server.Name, w1.Name, w2.Name} {
			if !strings.Contains(out, want) {
				t.Errorf("plan lacks %q:\n%s", want, out)
			}
		}
		noK3sAnywhere(t)
	})

	start := time.Now()
	t.Run("init: one server, two agents, every node Ready", func(t *testing.T) {
		out := run(t, "cluster", "init")
		t.Logf("cluster init took %s\n%s", time.Since(start).Round(100*time.Millisecond), out)
		kc := c.kube(t, "e2e")
		nodes, err := kc.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 3 {
			t.Fatalf("API has %d nodes: %+v", len(nodes), nodes)
		}
		for _, n := range nodes {
			if !n.Ready || !strings.Contains(out, n.Name) {
				t.Errorf("node %s ready=%v, or missing from init's output", n.Name, n.Ready)
			}
		}
		if m := inside(t, server, "stat -c %a /etc/rancher/k3s/token"); m != "600" {
			t.Errorf("token file mode %s", m)
		}
		list := run(t, "cluster", "node", "list", "--json")
		for _, n := range nodes {
			if !strings.Contains(list, `"name": "`+n.Name+`"`) {
				t.Errorf("node list lacks %s:\n%s", n.Name, list)
			}
		}
		st := run(t, "cluster", "status")
		for _, want := range []string{"nodes Ready 3/3", "active/running"} {
			if !strings.Contains(st, want) {
				t.Errorf("status lacks %q:\n%s", want, st)
			}
		}
	})

	t.Run("a Deployment is scheduled onto the hosts' nodes", func(t *testing.T) {
		kc := c.kube(t, "e2e")
		deploy(t, kc, "web", 4)
		waitPods(t, kc, "web", 4, "")
	})

	t.Run("re-running init changes nothing and restarts nothing", func(t *testing.T) {
		before := map[string]string{}
		for _, h := range []harness.Host{server, w1, w2} {
			before[h.Name] = unitTrace(t, h, "foundry-k3s")
		}
		out := run(t, "cluster", "init")
		if strings.Contains(out, "+ ") || !strings.Contains(out, "unchanged") {
			t.Errorf("re-run reported changes:\n%s", out)
		}
		for _, h := range []harness.Host{server, w1, w2} {
			if got := unitTrace(t, h, "foundry-k3s"); got != before[h.Name] {
				t.Errorf("%s: k3s restarted: %s -> %s", h.Name, before[h.Name], got)
			}
		}
	})

	t.Run("node add joins a fourth host", func(t *testing.T) {
		out := run(t, "cluster", "node", "add", extra.Name, "--role", "worker")
		if !strings.Contains(out, "Ready") {
			t.Fatalf("node add: %s", out)
		}
	})

	t.Run("node remove drains a worker and uninstalls k3s; the host stays", func(t *testing.T) {
		kc := c.kube(t, "e2e")
		onW1 := podsOn(t, kc, "web", w1.Name)
		if onW1 == 0 {
			t.Logf("no web pod on %s before the drain; the drain still has to pass", w1.Name)
		}
		run(t, "cluster", "node", "remove", w1.Name, "--yes")
		nodes, err := kc.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.Name == w1.Name {
				t.Fatalf("node %s still in the API", w1.Name)
			}
		}
		waitPods(t, kc, "web", 4, w1.Name)
		k3sGone(t, w1)
		if out := run(t, "host", "list"); !strings.Contains(out, w1.Name) {
			t.Errorf("%s is no longer a Foundry host:\n%s", w1.Name, out)
		}
	})

	t.Run("the last server cannot be removed", func(t *testing.T) {
		fails(t, "last control-plane node", "cluster", "node", "remove", server.Name, "--yes")
		if m := inside(t, server, "systemctl is-active foundry-k3s"); m != "active" {
			t.Errorf("server k3s %s after a refused remove", m)
		}
	})

	t.Run("HA: three servers; the API answers with one stopped", func(t *testing.T) {
		cl := c.client(t)
		ids := []string{}
		for _, h := range all[:4] {
			ids = append(ids, h.Name)
		}
		runJob(t, cl, messages.VerbServiceRemove, ids, messages.ServiceQuery{Component: messages.K3sComponent, Purge: true})
		noK3sAnywhere(t)
		c.writeConfig(t, "e2e-ha", true, map[harness.Host]string{server: "control-plane", w1: "control-plane", w2: "control-plane"})
		// A server that failed to join was seen once (a cold CI run, not
		// reproduced): keep what each stand-in said for the next look.
		t.Cleanup(func() {
			if !t.Failed() {
				return
			}
			for _, h := range []harness.Host{server, w1, w2} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out, errOut, _, err := harness.Exec(ctx, h, "journalctl -u foundry-k3s.service --no-pager -n 40 -o cat")
				cancel()
				t.Logf("journal of foundry-k3s on %s (%v):\n%s%s", h.Name, err, out, errOut)
			}
		})
		haStart := time.Now()
		out := run(t, "cluster", "init")
		t.Logf("HA cluster init took %s\n%s", time.Since(haStart).Round(100*time.Millisecond), out)
		if got := inside(t, server, "grep -c cluster-init /etc/rancher/k3s/config.yaml"); got != "1" {
			t.Errorf("first server has no cluster-init: %s", got)
		}
		if got := inside(t, w1, "grep server: /etc/rancher/k3s/config.yaml"); !strings.Contains(got, server.IP+":6443") {
			t.Errorf("second server joins %q", got)
		}
		st := run(t, "cluster", "status", "--json")
		var res struct {
			Kube struct {
				Etcd []struct{ Name string } `json:"etcd_members"`
			} `json:"kubernetes"`
		}
		if err := json.Unmarshal([]byte(st), &res); err != nil || len(res.Kube.Etcd) != 3 {
			t.Errorf("status does not name 3 etcd members (%v):\n%s", err, st)
		}
		// Stop the first server through its agent; the others answer.
		runJob(t, cl, messages.VerbServiceRemove, []string{server.Name}, messages.ServiceQuery{Component: messages.K3sComponent})
		kc, err := kube.NewStore(home, c.baoClient(t)).LoadKubeconfig(ctx, "e2e-ha")
		if err != nil {
			t.Fatal(err)
		}
		other, err := kube.RewriteServer(kc, "https://"+w1.IP+":6443")
		if err != nil {
			t.Fatal(err)
		}
		okc, err := kube.New(other)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, time.Second, func() error {
			nodes, err := okc.Nodes(ctx)
			if err != nil {
				return err
			}
			if len(nodes) != 3 {
				return fmt.Errorf("%d nodes", len(nodes))
			}
			return nil
		})
	})

	t.Run("the token and the kubeconfig appear in no output, log, event, audit or job", func(t *testing.T) {
		st := kube.NewStore(home, c.baoClient(t))
		token, err := st.LoadToken(ctx, "e2e")
		if err != nil {
			t.Fatal(err)
		}
		kc, err := st.LoadKubeconfig(ctx, "e2e")
		if err != nil {
			t.Fatal(err)
		}
		canaries := []string{token, clientKey(t, kc)}
		haystack := strings.Join(outputs, "\n") + c.ctl.log.String()
		haystack += c.must(t, "events", "list", "--since", "2h", "--json") + c.must(t, "audit", "list", "--json")
		jobs := c.must(t, "job", "list", "--json")
		for _, id := range jobIDs(jobs) {
			haystack += c.must(t, "job", "show", id, "--json")
		}
		for _, h := range all[:4] {
			haystack += inside(t, h, "journalctl -u foundry-agent --no-pager -o cat 2>/dev/null | tail -n 2000")
		}
		for i, canary := range canaries {
			if canary == "" || strings.Contains(haystack, canary) {
				t.Errorf("secret %d (%d bytes) is empty or leaked", i, len(canary))
			}
		}
	})
}

func deploy(t *testing.T, kc *kube.Client, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.k8s.io/pause:3.10"}}}}}}
	if _, err := kc.Kube.AppsV1().Deployments("default").Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitPods waits until the Deployment has n Running pods, none on the
// node avoid.
func waitPods(t *testing.T, kc *kube.Client, app string, n int, avoid string) {
	t.Helper()
	eventually(t, 3*time.Minute, time.Second, func() error {
		pods, err := kc.Kube.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return err
		}
		running := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			if p.Spec.NodeName == avoid {
				return fmt.Errorf("pod %s is still on %s", p.Name, avoid)
			}
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		if running != n {
			return fmt.Errorf("%d of %d %s pods running", running, n, app)
		}
		return nil
	})
}

func podsOn(t *testing.T, kc *kube.Client, app, node string) int {
	t.Helper()
	pods, err := kc.Kube.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		if p.Spec.NodeName == node {
			n++
		}
	}
	return n
}

func (c *clusterEnv) baoClient(t *testing.T) *secrets.BaoClient {
	t.Helper()
	b, err := secrets.NewBaoClient(secrets.BaoOptions{Address: c.baoURL, Token: baoRoot})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clientKey is the admin kubeconfig's private key, the part that must
// never be seen.
func clientKey(t *testing.T, kc []byte) string {
	t.Helper()
	var cfg struct {
		Users []struct {
			User struct {
				Key string `yaml:"client-key-data"`
			} `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(kc, &cfg); err != nil || len(cfg.Users) == 0 {
		t.Fatalf("kubeconfig does not decode: %v", err)
	}
	return cfg.Users[0].User.Key
}

// jobIDs reads the ids from job list --json.
func jobIDs(listJSON string) []string {
	var l []messages.JobRecord
	if err := json.Unmarshal([]byte(listJSON), &l); err != nil {
		var wrapped messages.JobListResult
		if json.Unmarshal([]byte(listJSON), &wrapped) == nil {
			l = wrapped.Jobs
		}
	}
	var ids []string
	for _, j := range l {
		ids = append(ids, j.ID)
	}
	return ids
}
