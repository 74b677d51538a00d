package standintest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

const registriesYAML = `mirrors:
  docker.io:
    endpoint:
      - "http://10.77.0.1:5000"
  registry.foundry.test:
    endpoint:
      - "https://10.77.0.1:5443"
    rewrite:
      "^library/(.*)": "mirror/$1"
configs:
  "10.77.0.1:5443":
    auth:
      username: u
      password: p
    tls:
      insecure_skip_verify: true
`

var wantRegistries = map[string][]string{
	"docker.io":             {"http://10.77.0.1:5000"},
	"registry.foundry.test": {"https://10.77.0.1:5443"},
}

// cluster is a stand-in server (and agents) on loopback addresses.
type cluster struct {
	bin, dir   string
	base, port int
	kubeconfig string
	procs      []*proc
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{bin: standinBinary(t), dir: testDir(t), base: loopbackBase()}
	c.port = freePort(t, loopback(c.base))
	c.kubeconfig = filepath.Join(c.dir, "k3s.yaml")
	writeFile(t, filepath.Join(c.dir, "registries.yaml"), registriesYAML)
	return c
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) serverURL() string { return fmt.Sprintf("https://%s:%d", loopback(c.base), c.port) }

// startServer runs "k3s server" number i (0 = first) with a config file,
// as Foundry's agents would write it.
func (c *cluster) startServer(t *testing.T, i int, extraConfig string, env ...string) *proc {
	name := fmt.Sprintf("standin-server-%d", i)
	d := filepath.Join(c.dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`node-name: %s
node-ip: %s
bind-address: %s
https-listen-port: %d
tls-san: [standin.foundry.test]
disable: [traefik, servicelb]
node-label: ["foundry.dev/role=server"]
write-kubeconfig-mode: "0640"
not-a-k3s-flag-at-all: true
%s`, name, loopback(c.base+i), loopback(c.base+i), c.port, extraConfig)
	writeFile(t, filepath.Join(d, "config.yaml"), cfg)
	kubeconfig := c.kubeconfig
	if i > 0 {
		kubeconfig = filepath.Join(d, "k3s.yaml")
	}
	p := startProc(t, c.bin, filepath.Join(c.dir, name+".log"), env, "server",
		"-c", filepath.Join(d, "config.yaml"), "--data-dir", filepath.Join(d, "data"),
		"--standin-registries", filepath.Join(c.dir, "registries.yaml"),
		"--standin-kubeconfig", kubeconfig)
	c.procs = append(c.procs, p)
	return p
}

func (c *cluster) startAgent(t *testing.T, i int, token string) *proc {
	name := fmt.Sprintf("standin-agent-%d", i)
	d := filepath.Join(c.dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d, "config.yaml"), "node-label: [foundry.dev/role=agent]\n")
	ip := loopback(c.base + 3)
	p := startProc(t, c.bin, filepath.Join(c.dir, name+".log"), nil, "agent",
		"-c", filepath.Join(d, "config.yaml"), "--data-dir", filepath.Join(d, "data"),
		"--server", c.serverURL(), "--token", token, "--node-name", name, "--node-ip", ip,
		"--standin-registries", filepath.Join(c.dir, "registries.yaml"),
		"--standin-healthz-address", ip+":10248")
	c.procs = append(c.procs, p)
	return p
}

func (c *cluster) client(t *testing.T) *kubernetes.Clientset {
	rc, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	rc.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func fileExists(path string) func() (bool, error) {
	return func() (bool, error) {
		_, err := os.Stat(path)
		return err == nil, err
	}
}

func readyNodes(ctx context.Context, cs kubernetes.Interface, want int) func() (bool, error) {
	return func() (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == want, fmt.Errorf("%d of %d nodes Ready (want %d)", ready, len(nodes.Items), want)
	}
}

func TestStandinServerAndAgentOnLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := newCluster(t)
	sock, notified := notifySocket(t)
	server := c.startServer(t, 0, "", "NOTIFY_SOCKET="+sock)
	tokenPath := filepath.Join(c.dir, "standin-server-0", "data", "server", "node-token")
	waitFor(ctx, t, "node-token and kubeconfig", c.procs, func() (bool, error) {
		a, _ := fileExists(tokenPath)()
		b, err := fileExists(c.kubeconfig)()
		return a && b, err
	})

	// node-token is k3s's K10<sha256 of the server CA PEM>::server:<secret>.
	tokenBytes, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	m := regexp.MustCompile(`^K10([0-9a-f]{64})::server:([0-9a-f]{32})$`).FindStringSubmatch(token)
	if m == nil {
		t.Fatalf("node-token %q is not K10<hash>::server:<secret>", token)
	}
	kc, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ca := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].CertificateAuthorityData
	if sum := sha256.Sum256(ca); hex.EncodeToString(sum[:]) != m[1] {
		t.Errorf("node-token hash %s is not sha256 of the server CA", m[1])
	}
	if fi, err := os.Stat(c.kubeconfig); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("kubeconfig mode: %v %v, want 0640 from write-kubeconfig-mode", fi.Mode(), err)
	}
	if fi, err := os.Stat(tokenPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node-token mode: %v, want 0600", err)
	}

	agent := c.startAgent(t, 0, token)
	cs := c.client(t)
	waitFor(ctx, t, "2 nodes Ready", c.procs, readyNodes(ctx, cs, 2))
	select {
	case msg := <-notified:
		if !strings.Contains(msg, "READY=1") {
			t.Errorf("sd_notify got %q, want READY=1", msg)
		}
	default:
		t.Errorf("server sent no READY=1 to $NOTIFY_SOCKET although its node is Ready")
	}

	checkWrongCAHashRefused(ctx, t, c, m[2])
	checkVersion(t, cs)
	checkNodes(ctx, t, cs)
	checkHealthz(t, fmt.Sprintf("http://%s:10248/healthz", loopback(c.base+3)))
	runDeployment(ctx, t, cs, c.procs)
	runJob(ctx, t, cs, c.procs)

	// A stopped agent exits 0, keeps its Node, and the real node-lifecycle
	// controller marks that Node not Ready once its Lease expires.
	if err := agent.stop(30 * time.Second); err != nil {
		t.Errorf("agent: exit after SIGTERM: %v (want 0)", err)
	}
	waitFor(ctx, t, "stopped agent's node not Ready", []*proc{server}, func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "standin-agent-0", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status != corev1.ConditionTrue, fmt.Errorf("Ready=%s", cond.Status)
			}
		}
		return false, fmt.Errorf("no Ready condition")
	})
	if err := server.stop(30 * time.Second); err != nil {
		t.Errorf("server: exit after SIGTERM: %v (want 0)", err)
	}
}

// runJob: kwok's pod/fast stages complete pods owned by Jobs, so Helm
// hook Jobs finish.
func runJob(ctx context.Context, t *testing.T, cs kubernetes.Interface, procs []*proc) {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "standin-hook", Namespace: "default"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "hook", Image: "registry.invalid/never-pulled:1"}},
		}}},
	}
	if _, err := cs.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create job: %v", err)
	}
	waitFor(ctx, t, "job complete", procs, func() (bool, error) {
		j, err := cs.BatchV1().Jobs("default").Get(ctx, "standin-hook", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, fmt.Errorf("succeeded=%d active=%d", j.Status.Succeeded, j.Status.Active)
	})
}

// checkVersion: Helm compares kubeVersion constraints against this.
func checkVersion(t *testing.T, cs kubernetes.Interface) {
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	sv, err := semver.NewVersion(v.GitVersion)
	if err != nil {
		t.Fatalf("server version %q is not semver: %v", v.GitVersion, err)
	}
	con, _ := semver.NewConstraint(">=1.22")
	if !con.Check(sv) {
		t.Errorf("server version %s does not satisfy >=1.22", sv)
	}
	if !strings.Contains(v.GitVersion, "standin") {
		t.Errorf("server version %q does not say it is a stand-in", v.GitVersion)
	}
}

func checkNodes(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	v, _ := cs.Discovery().ServerVersion()
	for _, name := range []string{"standin-server-0", "standin-agent-0"} {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("node %s: %v", name, err)
		}
		if n.Annotations["k3s-standin.foundry.dev/stand-in"] != "true" || n.Annotations["kwok.x-k8s.io/node"] != "fake" {
			t.Errorf("node %s annotations %v", name, n.Annotations)
		}
		var got map[string][]string
		if err := json.Unmarshal([]byte(n.Annotations["k3s-standin.foundry.dev/registries"]), &got); err != nil || !reflect.DeepEqual(got, wantRegistries) {
			t.Errorf("node %s registries annotation %q (err %v), want %v", name, n.Annotations["k3s-standin.foundry.dev/registries"], err, wantRegistries)
		}
		if n.Status.NodeInfo.KubeletVersion != v.GitVersion {
			t.Errorf("node %s kubeletVersion %q, want %q", name, n.Status.NodeInfo.KubeletVersion, v.GitVersion)
		}
	}
	s, _ := cs.CoreV1().Nodes().Get(ctx, "standin-server-0", metav1.GetOptions{})
	for _, l := range []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} {
		if s.Labels[l] != "true" {
			t.Errorf("server node lacks label %s=true: %v", l, s.Labels)
		}
	}
	if s.Labels["foundry.dev/role"] != "server" {
		t.Errorf("server node-label from config.yaml missing: %v", s.Labels)
	}
	if s.Annotations["k3s-standin.foundry.dev/disabled"] != `["traefik","servicelb"]` {
		t.Errorf("disabled annotation %q", s.Annotations["k3s-standin.foundry.dev/disabled"])
	}
}

func checkHealthz(t *testing.T, url string) {
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("agent healthz: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("agent healthz: %s", resp.Status)
	}
}

// runDeployment: the real scheduler places pods on Ready nodes and kwok
// reports them Running (nothing runs; no image is pulled).
func runDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, procs []*proc) {
	labels := map[string]string{"app": "standin-demo"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "standin-demo", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/never-pulled:1"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	waitFor(ctx, t, "2 pods Running", procs, func() (bool, error) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=standin-demo"})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		return running == 2, fmt.Errorf("%d of %d pods Running", running, len(pods.Items))
	})
}

// TestStandinRejectsMalformedRegistries: k3s refuses to start with a
// broken registries.yaml; so must the stand-in, before it starts anything.
func TestStandinRejectsMalformedRegistries(t *testing.T) {
	bin := standinBinary(t)
	cases := map[string]string{
		"syntax":        "mirrors: [unclosed\n",
		"wrong type":    "mirrors:\n  docker.io:\n    endpoint: 5\n",
		"unknown key":   "mirrorz:\n  docker.io:\n    endpoint: [http://x]\n",
		"missing ca":    "configs:\n  r.test:\n    tls:\n      ca_file: /nonexistent/ca.pem\n",
		"configs shape": "configs: [a, b]\n",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			reg := filepath.Join(dir, "registries.yaml")
			writeFile(t, reg, body)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "server", "-c", filepath.Join(dir, "none.yaml"),
				"--data-dir", filepath.Join(dir, "data"), "--standin-registries", reg,
				"--standin-kubeconfig", filepath.Join(dir, "k3s.yaml"))
			writeFile(t, filepath.Join(dir, "none.yaml"), "")
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("still running after 60s: %s", out)
			}
			if err == nil || cmd.ProcessState.ExitCode() == 0 {
				t.Fatalf("exit 0 with malformed registries.yaml:\n%s", out)
			}
			if !strings.Contains(string(out), "registries") {
				t.Errorf("message does not name registries.yaml:\n%s", out)
			}
		})
	}
}

// checkWrongCAHashRefused: a token whose K10 hash names another CA must
// make the joiner exit non-zero at once, before it sends the secret.
func checkWrongCAHashRefused(ctx context.Context, t *testing.T, c *cluster, secret string) {
	bad := "K10" + strings.Repeat("0", 64) + "::server:" + secret
	d := t.TempDir()
	writeFile(t, filepath.Join(d, "none.yaml"), "")
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, c.bin, "agent", "-c", filepath.Join(d, "none.yaml"), "--data-dir", d,
		"--server", c.serverURL(), "--token", bad, "--node-name", "standin-bad-hash", "--node-ip", loopback(c.base+2),
		"--standin-registries", filepath.Join(d, "none-registries.yaml"), "--standin-healthz-address", loopback(c.base+2)+":10248")
	out, err := cmd.CombinedOutput()
	if cctx.Err() != nil {
		t.Fatalf("agent with a wrong CA hash still running after 60s:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), "does not match") {
		t.Errorf("agent with a wrong CA hash: err %v, want a non-zero exit naming the mismatch:\n%s", err, out)
	}
}
