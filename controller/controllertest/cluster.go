package controllertest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/foundry-fleet/foundry/controller"
)

// FreePorts returns n TCP ports that were free on loopback a moment ago,
// for listeners whose address other processes must know before they start
// (route ports of a cluster).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// StartCluster runs n controllers on loopback as one NATS cluster, the way
// the docs set one up: the first data directory is initialised
// (controller.Init) and its shared key set copied to the others
// (controller.CopySharedKeys, what `controller init --keys-from` does);
// each controller gets its own server name (ctl-1 ... ctl-n), a random
// client port, its own route port and routes to all n. They start at the
// same time, since each waits for its peers before its JetStream state
// exists. mutate sees each controller's index and options.
func StartCluster(t testing.TB, n int, mutate ...func(i int, o *controller.Options)) []*controller.Controller {
	t.Helper()
	base := t.TempDir()
	dirs := make([]string, n)
	for i := range n {
		dirs[i] = filepath.Join(base, fmt.Sprintf("ctl-%d", i+1))
	}
	if _, err := controller.Init(controller.InitOptions{DataDir: dirs[0], Listen: "127.0.0.1:0"}); err != nil {
		t.Fatalf("init first controller: %v", err)
	}
	for _, d := range dirs[1:] {
		if _, err := controller.CopySharedKeys(dirs[0], d); err != nil {
			t.Fatalf("copy shared keys: %v", err)
		}
	}
	ports := FreePorts(t, n)
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	out := make([]*controller.Controller, n)
	errs := make([]error, n)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		opts := controller.Options{Listen: "127.0.0.1:0", DataDir: dirs[i], Version: "test",
			SweepInterval: 100 * time.Millisecond, HeartbeatBase: 200 * time.Millisecond,
			Name: fmt.Sprintf("ctl-%d", i+1), Cluster: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			ClusterName: "foundry-test", Routes: routes}
		for _, m := range mutate {
			m(i, &opts)
		}
		wg.Go(func() { out[i], errs[i] = controller.Start(ctx, opts) })
	}
	wg.Wait()
	for i, c := range out {
		if c != nil {
			t.Cleanup(c.Shutdown)
		}
		if errs[i] != nil {
			t.Fatalf("start controller %d: %v", i+1, errs[i])
		}
	}
	return out
}

// AgentsOn lists the host ids of the agents connected to c's server
// (their connection name is "foundry-agent:<id>"), sorted.
func AgentsOn(c *controller.Controller) []string {
	cz, err := c.Server().Connz(&server.ConnzOptions{Limit: 1 << 20})
	if err != nil {
		return nil
	}
	var out []string
	for _, ci := range cz.Conns {
		if id, ok := strings.CutPrefix(ci.Name, "foundry-agent:"); ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
