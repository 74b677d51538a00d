package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

const stackYAML = `version: "1.0"
cluster:
  name: t
  domain: t.example.com
  nodes:
    - hostname: c-1
      address: 127.0.0.21
      role: control-plane
    - hostname: c-2
      address: 127.0.0.22
      role: worker
components:
  openbao:
    hosts: [c-1]
    storage: file
  k3s: {}
foundry:
  ssh_keys: file
`

// testEnv is a real controller with two real agents (c-1, c-2) and a
// Foundry home without OpenBAO, so the cluster's secrets go to files.
func testEnv(t *testing.T, config string) (Env, *strings.Builder) {
	t.Helper()
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	for _, id := range []string{"c-1", "c-2"} {
		ct.RunAgent(t, ct.EnrollConfig(t, admin, c, id, t.TempDir()))
	}
	ct.WaitOnline(t, admin, 2)
	home := t.TempDir()
	path := filepath.Join(home, "stack.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := cmdutil.Test()
	var both strings.Builder
	t.Cleanup(func() { both.WriteString(out.String() + errOut.String()) })
	e := Env{Env: clicomp.Env{IO: ios, Connect: ct.ConnectFunc(t, c), Home: func() (string, error) { return home, nil },
		ConfigPath: func() string { return path }, Getenv: func(string) string { return "" }}}
	e.Store = func(*stackconfig.Config) (*kube.Store, error) { return kube.NewStore(home, nil), nil }
	return e, &both
}

func TestInitWithoutTheK3sArtifactNamesTheImport(t *testing.T) {
	e, _ := testEnv(t, stackYAML)
	err := InitRun(context.Background(), &InitOptions{Env: e, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "foundry artifact import k3s") {
		t.Fatalf("err = %v", err)
	}
	// Nothing was made: no token was kept before the check failed.
	home, _ := e.Home()
	if _, err := os.Stat(filepath.Join(home, "clusters", "t", "token")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a token was stored although nothing can be installed: %v", err)
	}
}

func TestInitRefusesANodeThatIsNotAFoundryHost(t *testing.T) {
	e, _ := testEnv(t, strings.Replace(stackYAML, "hostname: c-2", "hostname: c-9", 1))
	err := InitRun(context.Background(), &InitOptions{Env: e, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "foundry host add") || !strings.Contains(err.Error(), "c-9") {
		t.Fatalf("err = %v", err)
	}
}

func TestNodeAddOfAnUnknownHostSaysHostAddFirst(t *testing.T) {
	e, _ := testEnv(t, stackYAML)
	err := NodeAddRun(context.Background(), &NodeOptions{Env: e, Host: "fe-9"})
	if err == nil || !strings.Contains(err.Error(), "foundry host add fe-9 first") {
		t.Fatalf("err = %v", err)
	}
}

func TestNodeAddBeforeInitSaysInitFirst(t *testing.T) {
	e, _ := testEnv(t, stackYAML)
	err := NodeAddRun(context.Background(), &NodeOptions{Env: e, Host: "c-2"})
	if err == nil || !strings.Contains(err.Error(), "foundry cluster init") {
		t.Fatalf("err = %v", err)
	}
}

func TestNodeRemoveWithoutAClusterSaysInitFirst(t *testing.T) {
	e, _ := testEnv(t, stackYAML)
	err := NodeRemoveRun(context.Background(), &NodeOptions{Env: e, Host: "c-2", Yes: true})
	if err == nil || !strings.Contains(err.Error(), "foundry cluster init") {
		t.Fatalf("err = %v", err)
	}
}

func TestInitRefusesTwoServersWithoutHA(t *testing.T) {
	e, _ := testEnv(t, strings.Replace(stackYAML, "role: worker", "role: control-plane", 1))
	err := InitRun(context.Background(), &InitOptions{Env: e, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "ha") {
		t.Fatalf("err = %v", err)
	}
}

// Every node either side knows is a row, and anything not right makes
// the verdict exit 3.
func TestNodeRowsAccountForEveryNode(t *testing.T) {
	now := time.Now()
	hosts := map[string]messages.HostRecord{
		"c-1": {ID: "c-1", State: messages.StateOnline, LastSeen: now.UnixMilli()},
		"c-2": {ID: "c-2", State: messages.StateStale, LastSeen: now.Add(-time.Minute).UnixMilli()},
	}
	nodes := []kube.Node{{Name: "c-1", Ready: true}, {Name: "c-2", Ready: true}}
	rows := nodeRows(nodes, hosts, []string{"c-1", "c-2", "c-3"})
	if len(rows) != 3 {
		t.Fatalf("rows = %+v", rows)
	}
	want := map[string]string{"c-1": "", "c-2": "host stale", "c-3": "in cluster.nodes but not registered with the API"}
	for _, r := range rows {
		if r.Problem != want[r.Name] {
			t.Errorf("%s problem = %q, want %q", r.Name, r.Problem, want[r.Name])
		}
	}
	var ec *cmdutil.ExitCodeError
	if err := verdict(rows); !errors.As(err, &ec) || ec.Code != exitNotAllWell || !strings.Contains(err.Error(), "c-3") {
		t.Fatalf("verdict = %v", err)
	}
	if err := verdict(nodeRows(nodes[:1], hosts, []string{"c-1"})); err != nil {
		t.Fatalf("a healthy one-node cluster: %v", err)
	}
}

// TestK3sReportIsTheAPIAndEveryNode: cluster status reports the cluster
// to the controller for the web view: healthy only when the API is ready
// and no node has a problem, every node a row, and an unreachable API's
// error as one short line the controller accepts.
func TestK3sReportIsTheAPIAndEveryNode(t *testing.T) {
	hosts := map[string]messages.HostRecord{"c-1": {ID: "c-1", State: messages.StateOnline}, "c-2": {ID: "c-2", State: messages.StateOnline}}
	nodes := []kube.Node{{Name: "c-1", Ready: true, Roles: []string{"control-plane", "etcd"}, KubeletVersion: "v1.31.4+k3s1"}, {Name: "c-2"}}
	kst := &kube.ClusterStatus{Readyz: kube.Readyz{OK: true}, Version: "v1.31.4+k3s1", NodesReady: 1, NodesTotal: 2}
	checked := time.Now()
	r := k3sReport(StatusResult{Cluster: "prod", Kube: kst, Nodes: nodeRows(nodes, hosts, nil)}, "v1.31.4+k3s1", checked)
	if r.Component != messages.K3sComponent || r.Cluster != "prod" || r.Healthy || r.AppVersion != "v1.31.4+k3s1" || r.CheckedAt != checked.UnixMilli() ||
		len(r.Nodes) != 2 || r.Nodes[0].Roles != "control-plane,etcd" || !r.Nodes[0].Ready || r.Nodes[1].Problem != "not Ready" {
		t.Fatalf("report %+v: want unhealthy (c-2 not Ready), both nodes", r)
	}
	if r := k3sReport(StatusResult{Cluster: "prod", Kube: kst, Nodes: nodeRows(nodes[:1], hosts, nil)}, "", checked); !r.Healthy {
		t.Fatalf("a ready API with a Ready node: %+v", r)
	}
	down := k3sReport(StatusResult{Cluster: "prod", APIErr: "dial tcp 10.0.0.1:6443: connect: connection refused\n" + strings.Repeat("x", 500)}, "", checked)
	if down.Healthy || !strings.HasPrefix(down.Status, "API not reachable: dial tcp") {
		t.Fatalf("unreachable API reported as %+v", down)
	}
	if err := messages.ValidStackReport(messages.StackReport{Components: []messages.ClusterComponentStatus{down}}); err != nil {
		t.Fatalf("the controller would refuse the report: %v", err)
	}
}
