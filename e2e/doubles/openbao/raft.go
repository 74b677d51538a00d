package openbao

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
)

// RaftServer is one member of the raft cluster, as
// GET /v1/sys/storage/raft/configuration reports it.
type RaftServer struct {
	NodeID  string `json:"node_id"`
	Address string `json:"address"`
	Leader  bool   `json:"leader"`
	Voter   bool   `json:"voter"`
}

// EnableRaft makes the server report raft storage with itself as the
// only member (the leader once initialised), as the first node of an
// OpenBAO cluster does. address is its cluster address (host:8201).
//
// The double imitates raft's membership only: followers share no data
// with the leader beyond its unseal keys and tokens at join time.
func (s *Server) EnableRaft(nodeID, address string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raftNodeID, s.raftAddr = nodeID, address
	s.raftPeers = []RaftServer{{NodeID: nodeID, Address: address, Leader: true, Voter: true}}
}

// JoinRaft makes an uninitialised server a follower whose retry_join
// points at leader, as a node started with Foundry's retry_join blocks
// is: it is never initialised itself; once given enough of the leader's
// unseal keys on PUT /v1/sys/unseal it joins (becomes initialised and
// unsealed, accepts the leader's tokens) and is listed as a voter in the
// leader's raft configuration. Both must have EnableRaft called first.
func (s *Server) JoinRaft(leader *Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raftLeader = leader
}

// joinUnseal is /sys/unseal on a follower that has not joined yet: the
// shares are checked against the leader's (s.mu is held; the leader's
// lock is taken after it, never the other way round).
func (s *Server) joinUnseal(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Key string `json:"key"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Key == "" {
		writeErrors(w, http.StatusBadRequest, "'key' must be specified in request body as JSON, or 'reset' set to true")
		return
	}
	key, err := hex.DecodeString(req.Key)
	if err != nil {
		key, err = base64.StdEncoding.DecodeString(req.Key)
	}
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "'key' must be a valid hex or base64 string")
		return
	}
	l := s.raftLeader
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.initialized || l.sealed {
		writeErrors(w, http.StatusInternalServerError, "failed to join raft cluster: leader is not initialized or is sealed")
		return
	}
	s.threshold, s.keyHashes = l.threshold, l.keyHashes
	s.provided = append(s.provided, key)
	if len(s.provided) < s.threshold {
		writeJSON(w, http.StatusOK, s.sealStatusBody())
		return
	}
	genuine := true
	for _, p := range s.provided {
		genuine = genuine && s.isShare(p)
	}
	s.provided = nil
	if !genuine {
		s.threshold, s.keyHashes = 0, nil
		writeErrors(w, http.StatusBadRequest, "Error unsealing: cipher: message authentication failed")
		return
	}
	s.initialized, s.sealed = true, false
	s.tokens = maps.Clone(l.tokens)
	l.raftPeers = append(l.raftPeers, RaftServer{NodeID: s.raftNodeID, Address: s.raftAddr, Voter: true})
	writeJSON(w, http.StatusOK, s.sealStatusBody())
}

// raftConfiguration answers GET /v1/sys/storage/raft/configuration; a
// follower answers with its leader's view, as OpenBAO forwards it.
func (s *Server) raftConfiguration(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	if s.raftNodeID == "" {
		writeErrors(w, http.StatusBadRequest, "raft storage is not in use")
		return
	}
	peers := s.raftPeers
	if l := s.raftLeader; l != nil {
		l.mu.Lock()
		peers = append([]RaftServer(nil), l.raftPeers...)
		l.mu.Unlock()
	}
	servers := make([]map[string]any, 0, len(peers))
	for _, p := range peers {
		servers = append(servers, map[string]any{"node_id": p.NodeID, "address": p.Address, "leader": p.Leader,
			"voter": p.Voter, "protocol_version": "3"})
	}
	writeSecret(w, http.StatusOK, map[string]any{"config": map[string]any{"index": len(peers), "servers": servers}})
}
