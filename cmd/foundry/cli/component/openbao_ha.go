package component

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	comp "github.com/foundry-fleet/foundry/controller/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// baoNode is one OpenBAO host and a client straight to it.
type baoNode struct {
	host string
	bao  *secrets.BaoClient
}

// raftCluster reports whether the hosts form one raft cluster: raft
// storage (the default) on more than one host.
func raftCluster(cfg *stackconfig.Config, hosts []string) bool {
	b := cfg.Components.OpenBAO
	return b != nil && (b.Storage == "" || b.Storage == "raft") && len(hosts) > 1
}

// raftFirst is the configured OpenBAO host that is initialised when the
// hosts form a raft cluster (the first in the config), or "" when they do
// not. It is taken from the config, not from the hosts an install
// targets, so `component install openbao --host <new host>` joins the new
// host to the cluster instead of initialising a second one.
func raftFirst(cfg *stackconfig.Config) string {
	d, ok := comp.OpenBAO().Desired(cfg)
	if !ok || !raftCluster(cfg, d.Hosts) {
		return ""
	}
	return d.Hosts[0]
}

// readyNodes brings every node to usable. Alone, or without raft (first
// is ""), each node is its own server: initialised (once) and unsealed.
// In a raft cluster only the node first is initialised; every other node
// joins it through its retry_join blocks when unsealed with first's keys,
// so there is one cluster with one set of keys and one root token. first
// comes before the others whatever the order of nodes.
func readyNodes(ctx context.Context, e Env, nodes []baoNode, keys secrets.UnsealKeys, first, mount string, o ApplyOptions) ([]string, error) {
	ordered := make([]baoNode, 0, len(nodes))
	for _, n := range nodes {
		if n.host == first {
			ordered = append([]baoNode{n}, ordered...)
		} else {
			ordered = append(ordered, n)
		}
	}
	var notes []string
	for _, n := range ordered {
		var more []string
		var err error
		if first != "" && n.host != first {
			more, err = joinOpenBAO(ctx, e, n.bao, keys, n.host, first)
		} else {
			more, err = readyOpenBAO(ctx, e, n.bao, keys, n.host, mount, o)
		}
		notes = append(notes, more...)
		if err != nil {
			return notes, err
		}
	}
	return notes, nil
}

// joinOpenBAO unseals a follower with the first node's keys, which is
// what makes an uninitialised raft node join the cluster, and waits until
// it reports unsealed. A follower already joined and unsealed is left
// alone; one that is sealed (after a restart) is unsealed the same way.
func joinOpenBAO(ctx context.Context, e Env, bao *secrets.BaoClient, keys secrets.UnsealKeys, host, first string) ([]string, error) {
	if _, err := waitHealth(ctx, bao); err != nil {
		return nil, fmt.Errorf("OpenBAO on %s does not answer at %s: %w", host, bao.Address(), err)
	}
	st, err := bao.SealStatus(ctx)
	if err != nil {
		return nil, err
	}
	if st.Initialized && !st.Sealed {
		return nil, nil
	}
	ks, err := keys.Load(first)
	if errors.Is(err, secrets.ErrNoUnsealKeys) {
		return nil, fmt.Errorf("OpenBAO on %s must be unsealed with the cluster's keys, and Foundry keeps none for %s (the node that was initialised); unseal it with bao operator unseal", host, first)
	}
	if err != nil {
		return nil, err
	}
	if _, err := bao.Unseal(ctx, ks); err != nil {
		return nil, fmt.Errorf("join OpenBAO on %s to the raft cluster of %s: %w", host, first, err)
	}
	if err := waitUnsealed(ctx, bao, 30*time.Second); err != nil {
		return nil, fmt.Errorf("OpenBAO on %s was given %s's unseal keys but %w; check that it reaches %s on ports 8200 and 8201", host, first, err, first)
	}
	verb := "unsealed"
	if !st.Initialized {
		verb = "joined the raft cluster of " + first + " and unsealed"
	}
	return []string{fmt.Sprintf("openbao on %s: %s with the keys in %s", host, verb, keys.Path(first))}, nil
}

// waitUnsealed polls until the node reports unsealed: a joining node
// answers the last key before its join has finished.
func waitUnsealed(ctx context.Context, bao *secrets.BaoClient, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		st, err := bao.SealStatus(ctx)
		if err == nil && st.Initialized && !st.Sealed {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("its seal status cannot be read (%w)", err)
			}
			return fmt.Errorf("it is still sealed after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// RaftStatus is OpenBAO's raft membership, read once from the address the
// CLI uses for OpenBAO with Foundry's token.
type RaftStatus struct {
	Address  string             `json:"address"`
	Expected int                `json:"expected_peers"`
	Peers    []secrets.RaftPeer `json:"peers"`
	Error    string             `json:"error,omitempty"`
}

// Healthy is true when every configured host is a member and one leads.
func (r *RaftStatus) Healthy() bool {
	if r == nil {
		return true
	}
	leader := false
	for _, p := range r.Peers {
		leader = leader || p.Leader
	}
	return r.Error == "" && leader && len(r.Peers) >= r.Expected
}

// openbaoRaft reads the raft peers of the configured OpenBAO when it is a
// raft cluster (several hosts); nil otherwise. A failure is reported in
// the status, not returned: the hosts' own status is still worth
// printing, and an unknown membership makes the status unhealthy.
func openbaoRaft(ctx context.Context, e Env, cfg *stackconfig.Config, hosts []string) *RaftStatus {
	if !raftCluster(cfg, hosts) {
		return nil
	}
	rs := &RaftStatus{Address: cfg.OpenBAOAddress(), Expected: len(hosts), Peers: []secrets.RaftPeer{}}
	tok := e.Getenv("BAO_TOKEN")
	if tok == "" {
		home, err := e.Home()
		if err != nil {
			rs.Error = err.Error()
			return rs
		}
		t, _, err := (&secrets.TokenStore{Dir: home, Keyring: secrets.SystemKeyring()}).Load()
		if err != nil {
			rs.Error = "no OpenBAO token to read the raft peers with (" + err.Error() + "); run foundry secret login"
			return rs
		}
		tok = t
	}
	bao, err := secrets.NewBaoClient(secrets.BaoOptions{Address: rs.Address, Token: tok, Timeout: 10 * time.Second, CACert: OpenBAOCAFile(e)})
	if err != nil {
		rs.Error = err.Error()
		return rs
	}
	peers, err := bao.RaftPeers(ctx)
	if err != nil {
		rs.Error = err.Error()
		return rs
	}
	rs.Peers = peers
	return rs
}

// printRaft renders the peers under the status table: on a terminal a
// titled table, piped one "raft-peer" row each.
func printRaft(e Env, r *RaftStatus) error {
	if r == nil {
		return nil
	}
	io := e.IO
	if io.IsStdoutTTY() {
		fmt.Fprintf(io.Out, "\nraft peers (from %s; %d host(s) configured):\n", r.Address, r.Expected)
	}
	if r.Error != "" {
		fmt.Fprintf(io.ErrOut, "raft peers: %s\n", r.Error)
		return nil
	}
	t := cmdutil.NewTable(io, "KIND", "NODE ID", "ADDRESS", "LEADER", "VOTER")
	for _, p := range r.Peers {
		t.Row("raft-peer", p.NodeID, p.Address, yesNo(p.Leader), yesNo(p.Voter))
	}
	if err := t.Render(); err != nil {
		return err
	}
	if len(r.Peers) < r.Expected {
		fmt.Fprintf(io.ErrOut, "raft has %d of %d configured OpenBAO hosts; run foundry component install openbao to join the others\n", len(r.Peers), r.Expected)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
