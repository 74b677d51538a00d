package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/installer/kube"
)

const (
	serverNode = "kube-server"
	agentNode  = "kube-agent"
	ns         = "default"
)

// standin is one k3s stand-in cluster on loopback: a server (with
// --cluster-init, so it is an etcd member) and one agent.
type standin struct {
	dir      string
	server   string // host:port of the API
	procs    []*proc
	rawKC    string // the kubeconfig the server writes (k3s.yaml)
	serverIP string
	agentIP  string
}

func startStandin(ctx context.Context, t *testing.T) *standin {
	bin := harness.K3sStandin(t)
	base := loopbackBase()
	s := &standin{dir: t.TempDir(), serverIP: loopback(base), agentIP: loopback(base + 1)}
	port := freePort(t, s.serverIP)
	s.server = s.serverIP + ":" + strconv.Itoa(port)
	s.rawKC = filepath.Join(s.dir, "k3s.yaml")

	sd := filepath.Join(s.dir, "server")
	writeFile(t, filepath.Join(sd, "config.yaml"), fmt.Sprintf("node-name: %s\nnode-ip: %s\nbind-address: %s\nhttps-listen-port: %d\ncluster-init: true\n",
		serverNode, s.serverIP, s.serverIP, port))
	s.procs = append(s.procs, startProc(t, s.dir, "server", bin, "server",
		"--config", filepath.Join(sd, "config.yaml"), "--data-dir", filepath.Join(sd, "data"),
		"--standin-registries", filepath.Join(sd, "registries.yaml"), // absent: no mirrors
		"--standin-kubeconfig", s.rawKC))

	tokenFile := filepath.Join(sd, "data", "server", "node-token")
	waitFor(ctx, t, "the server's node-token and kubeconfig", s.procs, func() error {
		for _, f := range []string{tokenFile, s.rawKC} {
			if _, err := os.Stat(f); err != nil {
				return err
			}
		}
		return nil
	})
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	ad := filepath.Join(s.dir, "agent")
	writeFile(t, filepath.Join(ad, "config.yaml"), "node-label: [foundry.dev/pool=apps]\n")
	s.procs = append(s.procs, startProc(t, s.dir, "agent", bin, "agent",
		"--config", filepath.Join(ad, "config.yaml"), "--data-dir", filepath.Join(ad, "data"),
		"--server", "https://"+s.server, "--token", strings.TrimSpace(string(token)),
		"--node-name", agentNode, "--node-ip", s.agentIP,
		"--standin-registries", filepath.Join(ad, "registries.yaml"),
		"--standin-healthz-address", s.agentIP+":10248"))
	return s
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKubeAgainstStandin drives installer/kube through a real API server:
// the kubeconfig goes through ForCluster and the store, then
// WaitNodesReady, Nodes, Status, a drain that PodDisruptionBudgets slow
// down but allow, a drain they block, and node deletion.
func TestKubeAgainstStandin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	s := startStandin(ctx, t)

	// The kubeconfig as cluster init handles it: rewritten to the server's
	// reachable address, stored, loaded back.
	raw, err := os.ReadFile(s.rawKC)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.ForCluster(raw, s.server, "standin")
	if err != nil {
		t.Fatal(err)
	}
	store := kube.NewStore(filepath.Join(s.dir, "home"), nil)
	if _, err := store.SaveKubeconfig(ctx, "standin", kc); err != nil {
		t.Fatal(err)
	}
	if kc, err = store.LoadKubeconfig(ctx, "standin"); err != nil {
		t.Fatal(err)
	}
	c, err := kube.New(kc)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server() != "https://"+s.server {
		t.Fatalf("client talks to %s, want https://%s", c.Server(), s.server)
	}

	t.Run("WaitNodesReady", func(t *testing.T) { testWaitNodesReady(ctx, t, c, s) })
	if t.Failed() {
		return
	}
	t.Run("WaitNodesReadyNamesMissingNode", func(t *testing.T) { testWaitNamesMissing(ctx, t, c) })
	t.Run("Nodes", func(t *testing.T) { testNodes(ctx, t, c, s) })
	t.Run("Status", func(t *testing.T) { testStatus(ctx, t, c) })
	t.Run("Drain", func(t *testing.T) { testDrain(ctx, t, c, s) })
	if t.Failed() {
		return
	}
	t.Run("DrainBlockedByPDB", func(t *testing.T) { testDrainBlocked(ctx, t, c, s) })
	t.Run("DeleteNode", func(t *testing.T) { testDeleteNode(ctx, t, c) })
}

func testWaitNodesReady(ctx context.Context, t *testing.T, c *kube.Client, s *standin) {
	var mu sync.Mutex
	var seen []string
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	start := time.Now()
	err := c.WaitNodesReady(wctx, []string{serverNode, agentNode}, func(ready, total int, notReady []string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%d/%d %v", ready, total, notReady))
	})
	if err != nil {
		for _, p := range s.procs {
			t.Logf("--- %s\n%s", p.name, tail(p.log, 30))
		}
		t.Fatalf("WaitNodesReady: %v", err)
	}
	t.Logf("both nodes Ready %s after the agent started; progress: %v", time.Since(start).Round(time.Millisecond), seen)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[len(seen)-1] != "2/2 []" {
		t.Fatalf("progress %v, want it to end with 2/2 []", seen)
	}
}

// A node that never registers: the wait ends with the deadline and says
// which node and why.
func testWaitNamesMissing(ctx context.Context, t *testing.T, c *kube.Client) {
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err := c.WaitNodesReady(wctx, []string{serverNode, "ghost-1"}, nil)
	var nr *kube.NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("err = %v, want a *kube.NotReadyError", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err does not wrap the deadline: %v", err)
	}
	if nr.Ready != 1 || nr.Total != 2 || !reflect.DeepEqual(nr.NotReady, map[string]string{"ghost-1": "not registered"}) {
		t.Fatalf("NotReadyError = %+v", nr)
	}
	if !strings.Contains(err.Error(), "ghost-1 (not registered)") {
		t.Fatalf("message %q does not name ghost-1 and why", err)
	}
}

func testNodes(ctx context.Context, t *testing.T, c *kube.Client, s *standin) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Name != agentNode || nodes[1].Name != serverNode {
		t.Fatalf("nodes %+v, want %s and %s sorted", nodes, agentNode, serverNode)
	}
	a, srv := nodes[0], nodes[1]
	if !reflect.DeepEqual(srv.Roles, []string{"control-plane", "etcd", "master"}) || len(a.Roles) != 0 {
		t.Errorf("roles: server %v agent %v", srv.Roles, a.Roles)
	}
	if srv.InternalIP != s.serverIP || a.InternalIP != s.agentIP {
		t.Errorf("internal IPs: server %s agent %s, want %s %s", srv.InternalIP, a.InternalIP, s.serverIP, s.agentIP)
	}
	for _, n := range nodes {
		if !n.Ready || n.KubeletVersion == "" || n.Created.IsZero() || time.Since(n.Created) > 15*time.Minute || n.Unschedulable {
			t.Errorf("node %+v", n)
		}
	}
	if a.Labels["foundry.dev/pool"] != "apps" {
		t.Errorf("agent labels %v lack the config.yaml node-label", a.Labels)
	}
}

func testStatus(ctx context.Context, t *testing.T, c *kube.Client) {
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Readyz.OK || st.Readyz.Code != 200 || !strings.Contains(st.Readyz.Body, "readyz check passed") {
		t.Errorf("readyz = %+v", st.Readyz)
	}
	if !strings.HasPrefix(st.Version, "v1.") || !strings.Contains(st.Version, "standin") {
		t.Errorf("version %q, want v1.x from the stand-in", st.Version)
	}
	if st.NodesReady != 2 || st.NodesTotal != 2 || len(st.Nodes) != 2 {
		t.Errorf("nodes %d/%d (%d listed)", st.NodesReady, st.NodesTotal, len(st.Nodes))
	}
	if len(st.Etcd) != 1 || st.Etcd[0].Name != serverNode || !st.Etcd[0].Ready {
		t.Errorf("etcd members %+v, want %s Ready", st.Etcd, serverNode)
	}
	total := 0
	for _, n := range st.PodPhases {
		total += n
	}
	if total != len(st.SystemPods) || st.SystemPodsReady > total {
		t.Errorf("system pods: %d listed, phases %v, %d ready", len(st.SystemPods), st.PodPhases, st.SystemPodsReady)
	}
	t.Logf("status: %s %s, nodes %d/%d, etcd %v, kube-system pods %v", st.Server, st.Version, st.NodesReady, st.NodesTotal, st.Etcd, st.PodPhases)
}

// testDrain puts both replicas of web on the agent (the server cordoned
// meanwhile) under a budget of minAvailable 2, and stops the agent's kwok
// (its simulated kubelet) so evicted pods stay Terminating as with a slow
// kubelet. The drain must: be refused by the budget and keep asking; once
// the budget is relaxed to 1, evict one pod, then the other when the first
// one's replacement is Ready on the server; and return only when both
// evicted pods are gone, which happens when kwok runs again.
func testDrain(ctx context.Context, t *testing.T, c *kube.Client, s *standin) {
	if err := c.Cordon(ctx, serverNode); err != nil {
		t.Fatal(err)
	}
	createWorkload(ctx, t, c, "web", 2, 2)
	waitPods(ctx, t, c, s, "web", map[string]int{agentNode: 2})
	if err := c.Uncordon(ctx, serverNode); err != nil {
		t.Fatal(err)
	}
	before := podNames(ctx, t, c, "web")

	kubelet := s.agentKwok(t)
	if err := syscall.Kill(kubelet, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(kubelet, syscall.SIGCONT); err != nil {
				t.Errorf("resume kwok: %v", err)
			}
		}
	}
	defer resume()

	progress := make(chan kube.DrainProgress, 100)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- c.Drain(ctx, agentNode, 3*time.Minute, func(p kube.DrainProgress) { progress <- p })
	}()
	waitProgress := func(what string, ok func(kube.DrainProgress) bool) kube.DrainProgress {
		t.Helper()
		for {
			select {
			case p := <-progress:
				if ok(p) {
					return p
				}
			case err := <-done:
				t.Fatalf("waiting for %s: the drain returned %v", what, err)
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			}
		}
	}

	p := waitProgress("both evictions refused by the budget", func(p kube.DrainProgress) bool {
		n := 0
		for _, why := range p.Blocked {
			if strings.Contains(why, "PodDisruptionBudget default/web") {
				n++
			}
		}
		return n == 2
	})
	t.Logf("refused: %v", p.Blocked)

	patch := []byte(`{"spec":{"minAvailable":1}}`)
	if _, err := c.Kube.PolicyV1().PodDisruptionBudgets(ns).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	p = waitProgress("both pods evicted and Terminating", func(p kube.DrainProgress) bool { return len(p.Terminating) == 2 })
	t.Logf("terminating after %s: %v", time.Since(start).Round(time.Millisecond), p.Terminating)
	// The pods are still on the node (kwok is stopped), so the drain must
	// still be waiting.
	for _, name := range before {
		pod, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || pod.DeletionTimestamp == nil {
			t.Fatalf("pod %s: %v, want it Terminating while kwok is stopped", name, err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the drain returned (%v) while its evicted pods were still on the node", err)
	default:
	}

	resume()
	if err := <-done; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	t.Logf("drained %s in %s", agentNode, time.Since(start).Round(time.Millisecond))
	after := podNames(ctx, t, c, "web")
	for _, p := range before {
		if slices.Contains(after, p) {
			t.Errorf("pod %s is still there after the drain (pods now %v)", p, after)
		}
	}
	waitPods(ctx, t, c, s, "web", map[string]int{serverNode: 2})

	nodes, err := c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if want := n.Name == agentNode; n.Unschedulable != want {
			t.Errorf("node %s unschedulable = %v, want %v", n.Name, n.Unschedulable, want)
		}
	}
}

// testDrainBlocked drains the server while the agent stays cordoned: solo
// has one replica and minAvailable 1, so its eviction is always refused
// and the drain times out naming the pod and its budget.
func testDrainBlocked(ctx context.Context, t *testing.T, c *kube.Client, s *standin) {
	createWorkload(ctx, t, c, "solo", 1, 1)
	waitPods(ctx, t, c, s, "solo", map[string]int{serverNode: 1})
	solo := podNames(ctx, t, c, "solo")

	start := time.Now()
	err := c.Drain(ctx, serverNode, 15*time.Second, nil)
	took := time.Since(start)
	var te *kube.DrainTimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("Drain: err = %v, want a *kube.DrainTimeoutError", err)
	}
	if took < 15*time.Second || took > 45*time.Second {
		t.Errorf("the drain took %s with a 15s timeout", took)
	}
	t.Logf("blocked drain: %v", err)
	var found bool
	for _, p := range te.Pods {
		if p.Pod == ns+"/"+solo[0] {
			found = true
			if !reflect.DeepEqual(p.PDBs, []string{"default/solo"}) || !strings.Contains(p.Reason, "disruption budget") {
				t.Errorf("stuck pod %+v, want it blocked by default/solo with the budget's message", p)
			}
		}
	}
	if !found {
		t.Errorf("timeout error names %+v, not solo's pod %s", te.Pods, solo[0])
	}
	msg := err.Error()
	for _, want := range []string{"drain of node " + serverNode, ns + "/" + solo[0], "PodDisruptionBudget default/solo", "relax its PodDisruptionBudget"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	// The pod is still there: a refused eviction changed nothing.
	if got := podNames(ctx, t, c, "solo"); !reflect.DeepEqual(got, solo) {
		t.Errorf("solo pods %v after the blocked drain, want %v", got, solo)
	}
}

func testDeleteNode(ctx context.Context, t *testing.T, c *kube.Client) {
	if err := c.DeleteNode(ctx, agentNode); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNode(ctx, agentNode); err != nil {
		t.Fatalf("deleting a deleted node: %v, want nil", err)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Name != serverNode {
		t.Fatalf("nodes after delete: %+v", nodes)
	}
	if err := c.Cordon(ctx, agentNode); err == nil || !strings.Contains(err.Error(), "not in the cluster") {
		t.Fatalf("cordon of a deleted node: %v", err)
	}
}

// createWorkload creates a Deployment of replicas pods and a budget with
// minAvailable over them, both called name.
func createWorkload(ctx context.Context, t *testing.T, c *kube.Client, name string, replicas, minAvailable int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				// The default grace period: an evicted pod stays Terminating
				// until its kubelet (kwok) deletes it. A grace of 0 would make
				// the API delete it at once, and the drain's wait for the
				// pods to be gone would go untested.
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/never-pulled:1"}}},
			},
		},
	}
	if _, err := c.Kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
	minAvail := intstr.FromInt32(minAvailable)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
	if _, err := c.Kube.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create PodDisruptionBudget %s: %v", name, err)
	}
}

// waitPods waits until app's Running, Ready pods are spread over nodes as
// want says (node name to count), with no other pod of app left.
func waitPods(ctx context.Context, t *testing.T, c *kube.Client, s *standin, app string, want map[string]int) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	waitFor(wctx, t, fmt.Sprintf("pods of %s on %v", app, want), s.procs, func() error {
		l, err := c.Kube.CoreV1().Pods(ns).List(wctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return err
		}
		got := map[string]int{}
		var states []string
		for _, p := range l.Items {
			ready := false
			for _, cond := range p.Status.Conditions {
				ready = ready || cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue
			}
			states = append(states, fmt.Sprintf("%s@%s:%s ready=%v deleting=%v", p.Name, p.Spec.NodeName, p.Status.Phase, ready, p.DeletionTimestamp != nil))
			if p.Status.Phase == corev1.PodRunning && ready && p.DeletionTimestamp == nil {
				got[p.Spec.NodeName]++
			} else {
				got["(not running)"]++
			}
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("pods %v", states)
		}
		return nil
	})
}

func podNames(ctx context.Context, t *testing.T, c *kube.Client, app string) []string {
	t.Helper()
	l, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// agentKwok is the pid of the agent's kwok, the stand-in's kubelet for
// the agent's node.
func (s *standin) agentKwok(t *testing.T) int {
	t.Helper()
	for _, p := range s.procs {
		if p.name == "agent" {
			pid, err := childWith(p.cmd.Process.Pid, "__kwok")
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatal("no agent process")
	return 0
}
