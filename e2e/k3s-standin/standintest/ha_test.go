package standintest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStandinHAJoinOnLoopback joins a second server to a cluster-init
// server through the token alone (no shared files): it must get the CAs
// from the bootstrap Secret, become an etcd member, and register its own
// control-plane Node. Heavy (two control planes); skipped with -short.
func TestStandinHAJoinOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("two control planes on one machine; run without -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := newCluster(t)
	c.startServer(t, 0, "cluster-init: true\ntoken: standin-ha-secret\n")
	waitFor(ctx, t, "first server kubeconfig", c.procs, fileExists(c.kubeconfig))
	cs := c.client(t)
	waitFor(ctx, t, "first server Ready", c.procs, readyNodes(ctx, cs, 1))

	second := c.startServer(t, 1, fmt.Sprintf("server: %s\ntoken: standin-ha-secret\n", c.serverURL()))
	waitFor(ctx, t, "2 control-plane nodes Ready", c.procs, readyNodes(ctx, cs, 2))
	for _, name := range []string{"standin-server-0", "standin-server-1"} {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels["node-role.kubernetes.io/etcd"] != "true" || n.Labels["node-role.kubernetes.io/control-plane"] != "true" {
			t.Errorf("%s labels %v, want control-plane and etcd roles", name, n.Labels)
		}
	}
	// The joined server's own API answers from the shared etcd.
	joinedKC := filepath.Join(c.dir, "standin-server-1", "k3s.yaml")
	waitFor(ctx, t, "joined server kubeconfig", c.procs, fileExists(joinedKC))
	b, err := os.ReadFile(joinedKC)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), loopback(c.base+1)) {
		t.Errorf("joined server kubeconfig does not point at its own API:\n%s", b)
	}
	if err := second.stop(30 * time.Second); err != nil {
		t.Errorf("joined server exit after SIGTERM: %v", err)
	}
}
