package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// RaftPeer is one member of OpenBAO's raft cluster, as
// sys/storage/raft/configuration reports it.
type RaftPeer struct {
	NodeID  string `json:"node_id"`
	Address string `json:"address"` // cluster address, host:8201
	Leader  bool   `json:"leader"`
	Voter   bool   `json:"voter"`
}

// RaftPeers reads the raft configuration: who is in the cluster, who
// leads and who votes. It needs a token allowed to read
// sys/storage/raft/configuration (root, or a sudo policy on it).
func (b *BaoClient) RaftPeers(ctx context.Context) ([]RaftPeer, error) {
	if err := b.needToken("read the raft configuration"); err != nil {
		return nil, err
	}
	sec, err := b.c.Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
	if err != nil {
		return nil, b.classify(ctx, "read the raft configuration", err)
	}
	if sec == nil || sec.Data == nil {
		return nil, errors.New("OpenBAO returned no raft configuration; is its storage raft?")
	}
	raw, err := json.Marshal(sec.Data["config"])
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Servers []RaftPeer `json:"servers"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("read the raft configuration at %s: unexpected answer: %w", b.addr, err)
	}
	return cfg.Servers, nil
}
