package messages

// Controller API endpoints. Reads and writes are distinct subjects so NATS
// permissions can separate read-only operators from admins.
var (
	APIHostList    = MustAPISubject("host", "list")
	APIHostEnroll  = MustAPISubject("host", "enroll")
	APIHostRemove  = MustAPISubject("host", "remove")
	APIHostRekey   = MustAPISubject("host", "rekey")
	APIFleetStatus = MustAPISubject("fleet", "status")
	APIInfo        = MustAPISubject("controller", "info")

	APIOperatorCreate = MustAPISubject("operator", "create")
	APIOperatorList   = MustAPISubject("operator", "list")
	APIOperatorRevoke = MustAPISubject("operator", "revoke")

	APIRotateSigningKey = MustAPISubject("controller", "rotate-signing-key")
	APIRotateCerts      = MustAPISubject("controller", "rotate-certs")
)

// ReadAPISubjects are the endpoints a read-only operator may call; every
// other API subject is admin-only. NATS permissions and the controller
// both enforce this list.
var ReadAPISubjects = []string{APIHostList, APIFleetStatus, APIInfo, APIJobList, APIJobShow, APIArtifactList, APIWebLogin, APIStreamRead, APIStackList}

// VerbCheckedAPISubjects are write endpoints a read-only operator may
// still call, for the read-only verbs (ReadOnlyVerbs) only: the
// controller checks the verb of each request, and agents check the role
// in every envelope again. Stack and component status run as
// service_status jobs this way.
var VerbCheckedAPISubjects = []string{APIJobRun}

// APIResponse wraps every controller API answer so a client can tell an
// error from an empty result without guessing.
type APIResponse[T any] struct {
	Error  *Error `json:"error,omitempty"`
	Result T      `json:"result"`
}

// Host states, derived by the controller from heartbeat age and from the
// server's word that the agent's connection closed. Stale and offline are
// hosts whose connection may still be open but that went silent;
// disconnected is a host whose command connection the server saw close
// (a crash, a kill, a reset) and that has not connected again. Enrolled
// means an identity exists but no heartbeat has arrived yet.
const (
	StateOnline       = "online"
	StateStale        = "stale"
	StateOffline      = "offline"
	StateDisconnected = "disconnected"
	StateEnrolled     = "enrolled"
)

// HostRecord is a host as the registry knows it.
type HostRecord struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	LastSeen   int64  `json:"last_seen"`  // unix ms, controller clock
	FirstSeen  int64  `json:"first_seen"` // unix ms
	IntervalMs int64  `json:"interval_ms"`
	Goodbye    bool   `json:"goodbye,omitempty"`
	// Disconnected is set when the server saw the agent's command
	// connection close, and cleared by its next heartbeat.
	Disconnected bool  `json:"disconnected,omitempty"`
	Facts        Facts `json:"facts"`
	// Role and Labels are the operator's assignment (EnrollRequest), the
	// only ones --where uses. ReportedRole and ReportedLabels are what
	// the agent's heartbeat claims, shown for comparison only.
	Role           string            `json:"role,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	ReportedRole   string            `json:"reported_role,omitempty"`
	ReportedLabels map[string]string `json:"reported_labels,omitempty"`
	// Where the host was bootstrapped from, for SSH fallbacks (remove,
	// configure, ssh). Kept with the identity, not in a local file.
	Address string `json:"address,omitempty"`
	SSHUser string `json:"ssh_user,omitempty"`
	SSHPort int    `json:"ssh_port,omitempty"`
	// TrustedKeyIDs are the signing keys the agent last said it trusts.
	TrustedKeyIDs []string `json:"trusted_key_ids,omitempty"`
	// Instance, Started and Seq are the position of the last heartbeat
	// taken (see Position): anything said before it is ignored.
	Instance string `json:"instance,omitempty"`
	Started  int64  `json:"started,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
}

// Position of the last heartbeat merged into the record.
func (r HostRecord) Position() Position {
	return Position{Instance: r.Instance, Started: r.Started, Seq: r.Seq}
}

// HostListRequest asks for the registry.
type HostListRequest struct{}

// HostListResult is the registry, sorted by id.
type HostListResult struct {
	Hosts []HostRecord `json:"hosts"`
}

// FleetStatusRequest asks the controller to fan a status command out. No
// Hosts means every host in the registry, whatever its state: a host that
// is away is accounted as missing, not left out.
type FleetStatusRequest struct {
	Hosts []string `json:"hosts,omitempty"`
	// Where selects hosts by id, state, role, labels and facts (see
	// controller/target); combined with Hosts, both must match.
	Where     string `json:"where,omitempty"`
	TimeoutMs int64  `json:"timeout_ms"`
	// Summary leaves each host's status out of the answer (result, error
	// and latency stay), so the answer of a fleet of tens of thousands of
	// hosts still fits one API message.
	Summary bool `json:"summary,omitempty"`
}

// HostStatus is one host's answer in a fan-out.
type HostStatus struct {
	Host      string       `json:"host"`
	LatencyMs float64      `json:"latency_ms"`
	Error     *Error       `json:"error,omitempty"`
	Status    *StatusReply `json:"status,omitempty"`
}

// MissingHost is an expected host that did not answer, with why, and what
// the registry knew of it: its state and when it was last heard from
// (RFC 3339; both empty for a host the registry does not know).
type MissingHost struct {
	Host     string `json:"host"`
	Reason   string `json:"reason"`
	State    string `json:"state,omitempty"`
	LastSeen string `json:"last_seen,omitempty"`
}

// Reasons a host is missing from a fan-out.
const (
	ReasonNotConnected = "not connected"
	ReasonNoReply      = "no reply before timeout"
	ReasonUnknownHost  = "not in registry"
	// ReasonOffline: the registry has the host offline (silent for
	// OfflineFactor intervals, or stopped cleanly), so it was not asked.
	ReasonOffline = "offline, not asked"
)

// FleetStatusResult accounts for every expected host: each is either in
// Responded or in Missing.
type FleetStatusResult struct {
	RequestID string        `json:"request_id"`
	Expected  int           `json:"expected"`
	Responded []HostStatus  `json:"responded"`
	Missing   []MissingHost `json:"missing"`
	ElapsedMs float64       `json:"elapsed_ms"`
	TimedOut  bool          `json:"timed_out"`
}

// EnrollRequest registers a host's NATS identity. Only the public key
// travels: the private seed is generated on the host and never leaves it.
type EnrollRequest struct {
	Host      string `json:"host"`
	PublicKey string `json:"public_key"` // NKey user public key (U...)
	Address   string `json:"address,omitempty"`
	SSHUser   string `json:"ssh_user,omitempty"`
	SSHPort   int    `json:"ssh_port,omitempty"`
	// Role and Labels are what the operator assigned at host add or host
	// configure. The controller keeps them with the identity and --where
	// selects on them, never on what the agent says about itself: an
	// owned host cannot claim a role to receive what is meant for others.
	Role   string            `json:"role,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// EnrollResult is everything an agent needs to reach and trust the
// controller.
type EnrollResult struct {
	Host        string   `json:"host"`
	URLs        []string `json:"urls"`
	CAPEM       string   `json:"ca_pem,omitempty"`
	TrustedKeys []string `json:"trusted_keys"`
	Created     bool     `json:"created"` // false when the same key was already enrolled
}

// ControllerInfo describes a running controller.
type ControllerInfo struct {
	Version     string   `json:"version"`
	URLs        []string `json:"urls"`
	TrustedKeys []string `json:"trusted_keys"`
	// RetiredKeys are older signing keys kept only to sign trust updates
	// for hosts that missed a rotation.
	RetiredKeys []string `json:"retired_keys,omitempty"`
	TLS         bool     `json:"tls"`
	Hosts       int      `json:"hosts"`
}

// HostRemoveRequest removes a host from the fleet.
type HostRemoveRequest struct {
	Host string `json:"host"`
	// RevokeOnly revokes the host's identity and forgets it without
	// asking its agent to uninstall: for a failed host add whose rollback
	// already removed the agent over SSH.
	RevokeOnly bool `json:"revoke_only,omitempty"`
	// AuthorizedKey is the public line of Foundry's SSH key for the host
	// (from the CLI's key store), for the agent to take out of the SSH
	// user's authorized_keys; empty when none is known.
	AuthorizedKey string `json:"authorized_key,omitempty"`
}

// HostRemoveResult says what was done. AgentUninstalled is false when the
// agent could not be reached; the caller then removes it over SSH.
type HostRemoveResult struct {
	Host             string `json:"host"`
	AgentUninstalled bool   `json:"agent_uninstalled"`
	AgentError       string `json:"agent_error,omitempty"`
	// AgentRemoved is what the agent reported it removed; KeyRemoved
	// whether Foundry's SSH key left authorized_keys.
	AgentRemoved []string `json:"agent_removed,omitempty"`
	KeyRemoved   bool     `json:"key_removed,omitempty"`
	// AgentReported is false for an agent from before UninstallReply,
	// which only scheduled its removal and said nothing of what went.
	AgentReported bool `json:"agent_reported,omitempty"`
	// AgentStopped is true once the agent's connection closed after it
	// confirmed: the credentials were revoked only then, so the agent
	// never ran with refused credentials.
	AgentStopped bool   `json:"agent_stopped,omitempty"`
	Revoked      int    `json:"revoked"`
	Address      string `json:"address,omitempty"`
	SSHUser      string `json:"ssh_user,omitempty"`
	SSHPort      int    `json:"ssh_port,omitempty"`
}

// OperatorCreateRequest registers an operator. Like an agent's, the
// operator's key pair is made where it will be used (the CLI) and only
// the public key travels; the controller never sees the seed.
type OperatorCreateRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	PublicKey string `json:"public_key"`
}

// OperatorInfo is an operator as the controller knows it.
type OperatorInfo struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	PublicKey   string `json:"public_key"`
	Created     int64  `json:"created"`           // unix ms
	Revoked     int64  `json:"revoked,omitempty"` // unix ms; revoked keys never connect again
	Connections int    `json:"connections"`       // live NATS connections now
}

// OperatorListRequest asks for every operator, revoked ones included.
type OperatorListRequest struct{}

// OperatorListResult is every operator, sorted by name then creation.
type OperatorListResult struct {
	Operators []OperatorInfo `json:"operators"`
}

// OperatorRevokeRequest revokes an operator by name.
type OperatorRevokeRequest struct {
	Name string `json:"name"`
}

// OperatorRevokeResult says what revocation did.
type OperatorRevokeResult struct {
	Name         string `json:"name"`
	PublicKey    string `json:"public_key"`
	Disconnected int    `json:"disconnected"`
}

// RotateSigningKeyRequest asks the controller to make a new command
// signing key and move every agent's trust to it.
type RotateSigningKeyRequest struct {
	TimeoutMs int64 `json:"timeout_ms"`
}

// RotateSigningKeyResult accounts for every agent. Hosts in Missing or
// Failed still trust only older keys; the controller keeps those keys to
// sign their trust update when they next connect.
type RotateSigningKeyResult struct {
	OldKey    string        `json:"old_key"`
	NewKey    string        `json:"new_key"`
	RequestID string        `json:"request_id"`
	Expected  int           `json:"expected"`
	Updated   []string      `json:"updated"`
	Failed    []HostStatus  `json:"failed"`
	Missing   []MissingHost `json:"missing"`
}

// RotateCertsRequest asks the controller to reissue its TLS server
// certificate from the same CA and serve it from the next handshake on.
type RotateCertsRequest struct{}

// RotateCertsResult describes the certificate now served.
type RotateCertsResult struct {
	Serial   string   `json:"serial"`
	NotAfter int64    `json:"not_after"` // unix ms
	Names    []string `json:"names"`
}
