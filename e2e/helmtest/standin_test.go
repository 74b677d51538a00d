package helmtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// standinBinary is the k3s stand-in (e2e/k3s-standin: real kube-apiserver,
// controller-manager, scheduler and etcd; kwok simulates the kubelet, so
// pods "run" without containers). FOUNDRY_E2E_K3S names it, as `make e2e`
// sets it; else the newest build in the stand-in's cache.
func standinBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FOUNDRY_E2E_K3S"); p != "" {
		return p
	}
	dir := os.Getenv("FOUNDRY_E2E_DIR")
	if dir == "" {
		dir = "/var/tmp/foundry-e2e"
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "cache", "k3s-standin", "*", "k3s"))
	sort.Slice(matches, func(i, j int) bool { return mtime(matches[i]).After(mtime(matches[j])) })
	if len(matches) == 0 {
		t.Skipf("no k3s stand-in binary: set FOUNDRY_E2E_K3S, or build it with e2e/k3s-standin/build.sh (cached under %s/cache/k3s-standin)", dir)
	}
	return matches[0]
}

func mtime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// standin is one stand-in server on a loopback address of its own, so
// its etcd (2379/2380 on the node IP) does not meet another test's.
type standin struct {
	cmd        *exec.Cmd
	log        string
	kubeconfig string
	done       chan error
}

func startStandin(t *testing.T) *standin {
	t.Helper()
	bin := standinBinary(t)
	dir := t.TempDir()
	ip := fmt.Sprintf("127.0.0.%d", 150+os.Getpid()%50)
	port := freePort(t, ip)
	healthz := net.JoinHostPort(ip, fmt.Sprint(freePort(t, ip)))
	write(t, filepath.Join(dir, "config.yaml"), "write-kubeconfig-mode: \"0600\"\n")
	write(t, filepath.Join(dir, "registries.yaml"), "mirrors: {}\n")
	s := &standin{log: filepath.Join(dir, "standin.log"), kubeconfig: filepath.Join(dir, "k3s.yaml"), done: make(chan error, 1)}
	f, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "server", "-c", filepath.Join(dir, "config.yaml"),
		"--node-name", "helmtest", "--node-ip", ip, "--bind-address", ip,
		"--https-listen-port", fmt.Sprint(port), "--data-dir", filepath.Join(dir, "data"),
		"--standin-registries", filepath.Join(dir, "registries.yaml"),
		"--standin-kubeconfig", s.kubeconfig, "--standin-healthz-address", healthz)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start stand-in: %v", err)
	}
	go func() { s.done <- s.cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("--- stand-in log (tail)\n%s", b)
		}
	})
	return s
}

// waitNodeReady waits for the kubeconfig and a Ready node, failing early
// if the stand-in exits.
func (s *standin) waitNodeReady(ctx context.Context, t *testing.T) []byte {
	t.Helper()
	var last error
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		kc, err := os.ReadFile(s.kubeconfig)
		if err == nil {
			if err = nodeReady(ctx, kc); err == nil {
				return kc
			}
		}
		last = err
		select {
		case err := <-s.done:
			t.Fatalf("stand-in exited: %v (last: %v)", err, last)
		case <-ctx.Done():
			t.Fatalf("stand-in not ready: %v", last)
		case <-tick.C:
		}
	}
}

func nodeReady(ctx context.Context, kubeconfig []byte) error {
	cs, err := clientFrom(kubeconfig)
	if err != nil {
		return err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
	}
	return fmt.Errorf("%d nodes, none Ready", len(nodes.Items))
}

func clientFrom(kubeconfig []byte) (kubernetes.Interface, error) {
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(rc)
}

func freePort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
