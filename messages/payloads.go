package messages

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
)

// Command verbs understood by agents.
const (
	VerbStatus = "status"
	// VerbUninstall asks an agent to remove itself from its host: unit,
	// binary, config, identity and (UninstallArgs) Foundry's SSH key. A
	// transient systemd unit does the removal while the agent waits, the
	// agent replies with what was removed (UninstallReply), and a second
	// transient unit stops the agent a moment later.
	VerbUninstall = "uninstall"
	// VerbLiveness sets the agent's heartbeat interval and reconnect
	// spread, which the controller scales with fleet size.
	VerbLiveness = "liveness"
	// VerbTrustUpdate replaces the agent's pinned signing keys with the
	// set in its TrustUpdate payload. Like every command it is accepted
	// only when signed by a key the agent already trusts, so the chain of
	// trust runs unbroken from the key pinned at bootstrap.
	VerbTrustUpdate = "trust_update"
)

// MaxTrustedKeys bounds a trust set; rotation needs two at most, the rest
// is headroom for several controllers.
const MaxTrustedKeys = 8

// TrustUpdate is the payload of a trust_update command: the complete new
// set of trusted signing keys, in EncodePublicKey form.
type TrustUpdate struct {
	Keys []string `json:"keys"`
}

// TrustUpdateReply is an agent's answer to a trust update: the key ids it
// now trusts and whether they were written to its config file (an agent
// run without one keeps them in memory only).
type TrustUpdateReply struct {
	KeyIDs    []string `json:"key_ids"`
	Persisted bool     `json:"persisted"`
}

// DecodeTrustUpdate parses and checks a trust update payload: a non-empty,
// bounded set of distinct, well-formed keys.
func DecodeTrustUpdate(b []byte) (TrustUpdate, []ed25519.PublicKey, error) {
	u, err := decode[TrustUpdate](b, MaxCommandBytes, "trust update")
	if err != nil {
		return u, nil, err
	}
	if len(u.Keys) == 0 || len(u.Keys) > MaxTrustedKeys {
		return u, nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("trust update must name 1 to %d keys, not %d", MaxTrustedKeys, len(u.Keys))}
	}
	keys := make([]ed25519.PublicKey, 0, len(u.Keys))
	seen := map[string]bool{}
	for _, s := range u.Keys {
		k, err := ParsePublicKey(s)
		if err != nil {
			return u, nil, &Error{Code: CodeBadRequest, Message: "trust update: " + err.Error()}
		}
		if seen[KeyID(k)] {
			return u, nil, &Error{Code: CodeBadRequest, Message: "trust update names the same key twice"}
		}
		seen[KeyID(k)] = true
		keys = append(keys, k)
	}
	return u, keys, nil
}

// Heartbeat kinds. A register heartbeat is sent on every (re)connect so the
// controller can rebuild its registry from nothing; goodbye is sent on a
// clean shutdown so the host is marked offline at once rather than after
// its heartbeats age out.
const (
	KindRegister  = "register"
	KindHeartbeat = "heartbeat"
	KindGoodbye   = "goodbye"
)

// Facts describe a host as the agent sees it. Static facts are collected at
// start; the usage figures are refreshed with every heartbeat.
type Facts struct {
	Hostname     string  `json:"hostname"`
	MachineID    string  `json:"machine_id"`
	OS           string  `json:"os"`         // e.g. debian
	OSVersion    string  `json:"os_version"` // e.g. 12.8
	Kernel       string  `json:"kernel"`
	Arch         string  `json:"arch"`
	CPUs         int     `json:"cpus"`
	MemTotal     uint64  `json:"mem_total"`
	MemUsed      uint64  `json:"mem_used"`
	DiskTotal    uint64  `json:"disk_total"`
	DiskUsed     uint64  `json:"disk_used"`
	Load1        float64 `json:"load1"`
	Load5        float64 `json:"load5"`
	Load15       float64 `json:"load15"`
	Uptime       uint64  `json:"uptime_s"`
	AgentVersion string  `json:"agent_version"`
	// LastUpgradeFailed is the agent's last self-update that did not
	// take (the host went back to this version by itself); it is
	// reported until an upgrade succeeds.
	LastUpgradeFailed *AgentUpgradeAttempt `json:"last_upgrade_failed,omitempty"`
}

// Heartbeat is published by an agent on its own heartbeat subject. The
// host it is about is taken from the subject, never from the payload.
type Heartbeat struct {
	V    int    `json:"v"`
	Kind string `json:"kind"`
	// Instance, Started and Seq order what a host says (see Instance):
	// the registry ignores a heartbeat older than one it already has.
	Instance   string `json:"instance,omitempty"`
	Started    int64  `json:"started,omitempty"` // unix ms, agent clock: when Instance started
	Seq        uint64 `json:"seq"`
	Time       int64  `json:"time"`        // unix ms, agent clock
	IntervalMs int64  `json:"interval_ms"` // the agent's current heartbeat interval
	Facts      Facts  `json:"facts"`
	// Role and Labels come from the agent's config (set at host add from
	// the stack config or flags); --where selects on them.
	Role   string            `json:"role,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// Trust lists the ids (KeyID) of the signing keys the agent trusts,
	// so the controller can see a host that missed a key rotation.
	Trust []string `json:"trust,omitempty"`
	// Counters are the agent process's running totals since it started
	// (Instance). The controller turns them into fleet-wide metrics, so
	// no host needs a metrics port of its own. Nil from agents older than
	// the field and while every total is zero; controllers older than it
	// ignore it.
	Counters *AgentCounters `json:"counters,omitempty"`
}

// AgentCounters are what an agent process did since it started. They
// only grow while the process lives and start again from zero with the
// next Instance. They are the agent's word: the controller keeps only the
// refusal codes it knows as labels.
type AgentCounters struct {
	// CommandsSucceeded and CommandsFailed count the verified commands
	// the agent ran, by their outcome.
	CommandsSucceeded uint64 `json:"commands_succeeded,omitempty"`
	CommandsFailed    uint64 `json:"commands_failed,omitempty"`
	// CommandsRefused counts the commands the agent did not run, by the
	// error code it answered (CodeExpired, CodeReplayed, ...).
	CommandsRefused map[string]uint64 `json:"commands_refused,omitempty"`
	// ArtifactBytes is what the agent received on its artifact fetch
	// connections: the artifacts' bytes plus a little framing.
	ArtifactBytes uint64 `json:"artifact_bytes,omitempty"`
}

// StatusRequest is the payload of a status command.
type StatusRequest struct {
	// Brief asks only whether the host is there and accepts commands: the
	// reply carries no payload. Facts are in the registry from heartbeats
	// already, so a fleet-wide "is everybody there" check need not send
	// and decode them again (fleet status --summary).
	Brief bool `json:"brief,omitempty"`
}

// StatusReply is what an agent answers to a status command.
type StatusReply struct {
	Hostname     string `json:"hostname"`
	MachineID    string `json:"machine_id"`
	AgentVersion string `json:"agent_version"`
	StartedAt    int64  `json:"started_at"` // unix ms
	Facts        Facts  `json:"facts"`
}

// Reply answers one command from one host. Error is set when the command
// was refused or failed; the host is taken from the reply subject by the
// controller, Host here is informational.
type Reply struct {
	V       int             `json:"v"`
	ID      string          `json:"id"`
	Host    string          `json:"host"`
	Error   *Error          `json:"error,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// Previous is set on a refused replay of a command this agent already
	// ran: the first outcome, so a job that re-sent a step learns what
	// happened without the step running twice.
	Previous *Reply `json:"previous,omitempty"`
}

// Severity levels of events.
const (
	SeverityInfo    = "info"
	SeverityWarning = "warning"
	SeverityError   = "error"
)

// Event types published by agents and the controller.
const (
	EventAgentStarted  = "agent_started"
	EventAgentStopping = "agent_stopping"
	EventCmdRefused    = "cmd_refused"
	EventHostOnline    = "host_online"
	EventHostStale     = "host_stale"
	EventHostOffline   = "host_offline"
	// EventHostDisconnected: the server saw the agent's command
	// connection close without a goodbye.
	EventHostDisconnected = "host_disconnected"
	EventHostEnrolled     = "host_enrolled"
	EventHostRemoved      = "host_removed"
	EventHostRekeyed      = "host_rekeyed"
	// EventHostKeyShared: two agent processes heartbeat with one host's
	// key (a copied key); the host should be rekeyed.
	EventHostKeyShared = "host_key_shared"
	EventTrustUpdated  = "trust_updated"
	// EventAgentUpgraded: a new agent connected and confirmed its
	// upgrade; EventAgentRolledBack: the host went back to its previous
	// agent because the new one did not come up.
	EventAgentUpgraded   = "agent_upgraded"
	EventAgentRolledBack = "agent_rolled_back"
)

// Event is something that happened, kept in the events stream.
type Event struct {
	V         int               `json:"v"`
	Time      int64             `json:"time"` // unix ms
	Host      string            `json:"host"`
	Type      string            `json:"type"`
	Severity  string            `json:"severity"`
	Message   string            `json:"message"`
	RequestID string            `json:"request_id,omitempty"`
	Source    string            `json:"source"` // "agent" or "controller"
	Fields    map[string]string `json:"fields,omitempty"`
	// Instance and Seq identify an agent's event: the agent process that
	// said it and its place in what that process said (one sequence
	// with its heartbeats, so gaps are normal). An agent re-sends an
	// event until the stream acknowledges it, with EventMsgID as the
	// stream's de-duplication id. Controller events carry neither.
	Instance string `json:"instance,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
}

// Liveness is the payload of a liveness command.
type Liveness struct {
	HeartbeatMs       int64 `json:"heartbeat_ms"`
	ReconnectSpreadMs int64 `json:"reconnect_spread_ms"`
}

// Validate bounds what an agent accepts, so a bad value can neither make
// it spin nor make it look dead.
func (l Liveness) Validate() error {
	if l.HeartbeatMs < 100 || l.HeartbeatMs > 10*60*1000 {
		return &Error{Code: CodeBadRequest, Message: "heartbeat_ms must be between 100 and 600000"}
	}
	if l.ReconnectSpreadMs < 0 || l.ReconnectSpreadMs > 5*60*1000 {
		return &Error{Code: CodeBadRequest, Message: "reconnect_spread_ms must be between 0 and 300000"}
	}
	return nil
}
