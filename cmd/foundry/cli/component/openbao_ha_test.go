package component

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

// raftDoubles starts n OpenBAO doubles as a raft cluster would be after
// install: all uninitialised, the others' retry_join pointing at the
// first. It returns the servers and a node (client) for each.
func raftDoubles(t *testing.T, n int) ([]*openbao.Server, []baoNode, []string) {
	t.Helper()
	var srvs []*openbao.Server
	var nodes []baoNode
	var urls []string
	for i := 0; i < n; i++ {
		s := openbao.New()
		s.EnableRaft(fmt.Sprintf("bao%d", i+1), fmt.Sprintf("10.77.0.%d:8201", 11+i))
		if i > 0 {
			s.JoinRaft(srvs[0])
		}
		ts := httptest.NewServer(s.Handler())
		t.Cleanup(ts.Close)
		c, err := secrets.NewBaoClient(secrets.BaoOptions{Address: ts.URL})
		if err != nil {
			t.Fatal(err)
		}
		srvs = append(srvs, s)
		nodes = append(nodes, baoNode{host: fmt.Sprintf("bao%d", i+1), bao: c})
		urls = append(urls, ts.URL)
	}
	return srvs, nodes, urls
}

func TestRaftClusterInitialisesTheFirstAndUnsealsEveryNodeAgainstTheOpenBAODouble(t *testing.T) {
	_, nodes, _ := raftDoubles(t, 3)
	env, _ := testEnv(t, stackYAML)
	env.IO.SetTTY(false, false)
	home, _ := env.Home()
	keys := secrets.UnsealKeys{Dir: home}
	ctx := context.Background()
	notes, err := readyNodes(ctx, env, nodes, keys, "bao1", "secret", ApplyOptions{})
	if err != nil {
		t.Fatalf("%v (notes %v)", err, notes)
	}
	got := strings.Join(notes, "\n")
	for _, want := range []string{"openbao on bao1: initialised", "openbao on bao2: joined the raft cluster of bao1 and unsealed",
		"openbao on bao3: joined the raft cluster of bao1 and unsealed"} {
		if !strings.Contains(got, want) {
			t.Errorf("notes lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "openbao on bao2: initialised") || strings.Contains(got, "openbao on bao3: initialised") {
		t.Fatalf("a follower was initialised on its own:\n%s", got)
	}
	for _, n := range nodes {
		st, err := n.bao.SealStatus(ctx)
		if err != nil || !st.Initialized || st.Sealed {
			t.Fatalf("%s: %+v %v", n.host, st, err)
		}
	}
	// Only the first node's keys are kept; the cluster has one set.
	if _, err := keys.Load("bao2"); err == nil {
		t.Fatal("keys were saved for a follower")
	}
	// A re-run finds every node ready and changes nothing.
	notes, err = readyNodes(ctx, env, nodes, keys, "bao1", "secret", ApplyOptions{})
	if err != nil || len(notes) != 0 {
		t.Fatalf("re-run: %v %v", notes, err)
	}
}

func TestRaftFollowerWithoutTheClusterKeysSaysHowToUnseal(t *testing.T) {
	_, nodes, _ := raftDoubles(t, 2)
	env, _ := testEnv(t, stackYAML)
	env.IO.SetTTY(false, false)
	home, _ := env.Home()
	_, err := joinOpenBAO(context.Background(), env, nodes[1].bao, secrets.UnsealKeys{Dir: home}, "bao2", "bao1")
	if err == nil || !strings.Contains(err.Error(), "Foundry keeps none for bao1") {
		t.Fatalf("err = %v", err)
	}
}

const raftStackYAML = `version: "1.0"
cluster:
  name: t
  domain: t.example.com
  nodes:
    - hostname: node1.t.example.com
      role: control-plane
components:
  openbao:
    hosts: [bao1.t.example.com, bao2.t.example.com, bao3.t.example.com]
    storage: raft
foundry:
  ssh_keys: file
  openbao:
    address: %s
`

// raftStatusEnv initialises a raft cluster of doubles (joining the first
// `joined` followers) and returns an env whose config points at the first
// node, with Foundry's token in BAO_TOKEN.
func raftStatusEnv(t *testing.T, joined int) (Env, *stackconfig.Config, func() string) {
	t.Helper()
	_, nodes, urls := raftDoubles(t, 3)
	env, out := testEnv(t, fmt.Sprintf(raftStackYAML, urls[0]))
	env.IO.SetTTY(false, false)
	home, _ := env.Home()
	ctx := context.Background()
	if _, err := readyNodes(ctx, env, nodes[:1+joined], secrets.UnsealKeys{Dir: home}, "bao1", "secret", ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := (&secrets.TokenStore{Dir: home, Keyring: secrets.SystemKeyring()}).Load()
	if err != nil {
		t.Fatal(err)
	}
	env.Getenv = func(k string) string {
		if k == "BAO_TOKEN" {
			return tok
		}
		return ""
	}
	cfg, err := env.Stack()
	if err != nil {
		t.Fatal(err)
	}
	return env, cfg, out
}

func TestStatusReportsRaftPeersFromTheOpenBAODouble(t *testing.T) {
	env, cfg, out := raftStatusEnv(t, 2)
	hosts := []string{"bao1-t-example-com", "bao2-t-example-com", "bao3-t-example-com"}
	rs := openbaoRaft(context.Background(), env, cfg, hosts)
	if rs == nil || rs.Error != "" || len(rs.Peers) != 3 || !rs.Healthy() {
		t.Fatalf("raft status = %+v", rs)
	}
	if err := printRaft(env, rs); err != nil {
		t.Fatal(err)
	}
	want := "raft-peer\tbao1\t10.77.0.11:8201\tyes\tyes\n" +
		"raft-peer\tbao2\t10.77.0.12:8201\tno\tyes\n" +
		"raft-peer\tbao3\t10.77.0.13:8201\tno\tyes\n"
	if out() != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", out(), want)
	}
	st := StatusResult{Component: "openbao", Raft: rs, Hosts: []HostStatus{{Healthy: true}}}
	if !st.Healthy() {
		t.Fatal("a full raft cluster made the status unhealthy")
	}
}

func TestStatusWithAMissingRaftPeerIsUnhealthy(t *testing.T) {
	env, cfg, _ := raftStatusEnv(t, 1)
	rs := openbaoRaft(context.Background(), env, cfg, []string{"bao1", "bao2", "bao3"})
	if rs == nil || len(rs.Peers) != 2 || rs.Healthy() {
		t.Fatalf("raft status = %+v", rs)
	}
	st := StatusResult{Component: "openbao", Raft: rs, Hosts: []HostStatus{{Healthy: true}}}
	if st.Healthy() {
		t.Fatal("2 of 3 raft peers reported healthy")
	}
}

func TestStatusSkipsRaftForOneHostOrFileStorage(t *testing.T) {
	env, _ := testEnv(t, stackYAML) // file storage
	cfg, err := env.Stack()
	if err != nil {
		t.Fatal(err)
	}
	if rs := openbaoRaft(context.Background(), env, cfg, []string{"bao1", "bao2"}); rs != nil {
		t.Fatalf("file storage: %+v", rs)
	}
	cfg.Components.OpenBAO.Storage = "raft"
	if rs := openbaoRaft(context.Background(), env, cfg, []string{"bao1"}); rs != nil {
		t.Fatalf("one raft host: %+v", rs)
	}
}

// `component install openbao --host bao3` targets one host of a raft
// cluster; it must join it, not initialise a second cluster on it.
func TestRaftFirstComesFromTheConfigNotTheTargetedHosts(t *testing.T) {
	env, _ := testEnv(t, fmt.Sprintf(raftStackYAML, "https://bao1.t.example.com:8200"))
	cfg, err := env.Stack()
	if err != nil {
		t.Fatal(err)
	}
	if got := raftFirst(cfg); got != "bao1-t-example-com" {
		t.Fatalf("raftFirst = %q", got)
	}
	cfg.Components.OpenBAO.Storage = "file"
	if got := raftFirst(cfg); got != "" {
		t.Fatalf("file storage: raftFirst = %q", got)
	}

	_, nodes, _ := raftDoubles(t, 2)
	home, _ := env.Home()
	keys := secrets.UnsealKeys{Dir: home}
	ctx := context.Background()
	env.IO.SetTTY(false, false)
	if _, err := readyNodes(ctx, env, nodes[:1], keys, "bao1", "secret", ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// Later, only the second host is targeted.
	notes, err := readyNodes(ctx, env, nodes[1:], keys, "bao1", "secret", ApplyOptions{})
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "joined the raft cluster of bao1") {
		t.Fatalf("notes %v, err %v", notes, err)
	}
}
