package controller

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/messages"
)

// Identity kinds and roles. Every NATS connection authenticates with an
// NKey whose public key maps to exactly one identity.
const (
	KindAgent    = "agent"
	KindOperator = "operator"
	KindInternal = "controller"

	RoleAdmin    = messages.RoleAdmin
	RoleReadOnly = messages.RoleReadOnly
)

// Default per-identity connection limits. An agent needs one connection;
// the second lets a reconnect succeed while the server has not yet noticed
// that the old TCP connection died; the third is for an artifact fetch
// (messages.AgentFetchConnName). An operator opens one per CLI
// invocation, so a few may overlap (events tail next to a status).
const (
	DefaultMaxConnsPerAgent    = 3
	DefaultMaxConnsPerOperator = 8
)

// Identity is a NATS user known to the controller, stored in the
// identities bucket under its public key.
type Identity struct {
	PublicKey string `json:"public_key"`
	Kind      string `json:"kind"`
	Name      string `json:"name"` // host id for agents, operator name otherwise
	Role      string `json:"role,omitempty"`
	Created   int64  `json:"created"`
	// Revoked is set (unix ms) on a revoked operator. The record is kept
	// as a tombstone so that nothing, not even the bootstrap admin's
	// re-creation at start, brings the key back.
	Revoked int64  `json:"revoked,omitempty"`
	Address string `json:"address,omitempty"`
	SSHUser string `json:"ssh_user,omitempty"`
	SSHPort int    `json:"ssh_port,omitempty"`
	// HostRole and HostLabels are an agent's role and labels as the
	// operator assigned them (host add, host configure); --where uses
	// these, never the ones the agent reports.
	HostRole   string            `json:"host_role,omitempty"`
	HostLabels map[string]string `json:"host_labels,omitempty"`
}

// authenticator checks NKey signatures on the server's nonce and assigns
// per-identity permissions. It replaces static user lists so that hosts can
// be enrolled and revoked while the server runs, and it caps how many
// connections one identity may hold, so stolen or buggy credentials cannot
// flood the server with connections.
type authenticator struct {
	maxAgent, maxOperator int
	// alive reports whether a client id is still connected; set once the
	// server exists.
	alive  func(cid uint64) bool
	onDeny func(id Identity, limit int)
	// system is the server's system account, where KindSystem
	// connections go; set once the server exists.
	system func() *server.Account
	// global is the server's global account, where agents and
	// operators go; set once the server exists.
	global func() *server.Account

	mu    sync.RWMutex
	ids   map[string]Identity            // public key -> identity
	conns map[string]map[uint64]struct{} // public key -> live client ids
	cids  map[uint64]string              // client id -> public key
	hosts map[string][]string            // host -> its agent public keys, so enrolment is not a scan of every identity
	// logins counts successful authentications per public key and
	// denied holds the last refusal for the connection limit (unix ms):
	// a rekey through the agent uses them to see a second party with the
	// key (see rekeyUnsafe).
	logins map[string]uint64
	denied map[string]int64
	// agentLimits is a user JWT carrying the agent limits (see
	// agentLimitsJWT).
	agentLimits string
}

// agentLimitsJWT is a user JWT whose only use is to carry limits. The
// server applies per-user payload and subscription limits only from a
// connection's user JWT (client.applyAccountLimits), and outside operator
// mode it discards any JWT a client sends before authentication. Check
// puts this one in its place for agents, so the limits come from the
// controller, whatever the client sent; its signing key is thrown away.
func agentLimitsJWT() (string, error) {
	acc, err := nkeys.CreateAccount()
	if err != nil {
		return "", fmt.Errorf("create the key for the agent limits: %w", err)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		return "", fmt.Errorf("create the key for the agent limits: %w", err)
	}
	sub, _ := user.PublicKey()
	uc := jwt.NewUserClaims(sub)
	uc.Name = "foundry agent limits"
	uc.Limits.Payload = messages.MaxAgentPublishBytes
	uc.Limits.Subs = messages.MaxAgentSubscriptions
	return uc.Encode(acc)
}

func newAuthenticator(maxAgent, maxOperator int) (*authenticator, error) {
	limits, err := agentLimitsJWT()
	if err != nil {
		return nil, err
	}
	return &authenticator{maxAgent: maxAgent, maxOperator: maxOperator,
		alive: func(uint64) bool { return true }, onDeny: func(Identity, int) {},
		system: func() *server.Account { return nil }, global: func() *server.Account { return nil },
		ids: map[string]Identity{}, conns: map[string]map[uint64]struct{}{}, cids: map[uint64]string{},
		hosts: map[string][]string{}, logins: map[string]uint64{}, denied: map[string]int64{},
		agentLimits: limits}, nil
}

func (a *authenticator) set(id Identity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.setLocked(id)
}

func (a *authenticator) setLocked(id Identity) {
	if old, ok := a.ids[id.PublicKey]; ok {
		a.unindexLocked(old)
	}
	a.ids[id.PublicKey] = id
	if id.Kind == KindAgent {
		a.hosts[id.Name] = append(a.hosts[id.Name], id.PublicKey)
	}
}

func (a *authenticator) unindexLocked(id Identity) {
	if id.Kind != KindAgent {
		return
	}
	keys := slices.DeleteFunc(a.hosts[id.Name], func(k string) bool { return k == id.PublicKey })
	if len(keys) == 0 {
		delete(a.hosts, id.Name)
		return
	}
	a.hosts[id.Name] = keys
}

// agentKeys are the public keys enrolled for host, revoked ones included.
// assignment is host's role and labels as the operator assigned them,
// from its enrolled identity.
func (a *authenticator) assignment(host string) (role string, labels map[string]string) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, pub := range a.hosts[host] {
		if id, ok := a.ids[pub]; ok && id.Revoked == 0 {
			return id.HostRole, id.HostLabels
		}
	}
	return "", nil
}

func (a *authenticator) agentKeys(host string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return slices.Clone(a.hosts[host])
}

// remove forgets an identity and returns the client ids that were
// connected with it, so the caller can disconnect them.
func (a *authenticator) remove(pub string) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.ids[pub]; ok {
		a.unindexLocked(old)
	}
	delete(a.ids, pub)
	return a.dropConnsLocked(pub)
}

// markRevoked keeps a tombstone for pub and returns its client ids.
func (a *authenticator) markRevoked(id Identity) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.setLocked(id)
	return a.dropConnsLocked(id.PublicKey)
}

// keyActivity is pub's live client ids, its count of successful
// authentications and its last refusal for the connection limit.
func (a *authenticator) keyActivity(pub string) (cids []uint64, logins uint64, denied int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked(pub)
	for cid := range a.conns[pub] {
		cids = append(cids, cid)
	}
	slices.Sort(cids)
	return cids, a.logins[pub], a.denied[pub]
}

func (a *authenticator) dropConnsLocked(pub string) []uint64 {
	var out []uint64
	for cid := range a.conns[pub] {
		out = append(out, cid)
		delete(a.cids, cid)
	}
	delete(a.conns, pub)
	delete(a.logins, pub)
	delete(a.denied, pub)
	return out
}

func (a *authenticator) get(pub string) (Identity, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.ids[pub]
	return id, ok
}

// byClient returns the identity a client id authenticated as.
func (a *authenticator) byClient(cid uint64) (Identity, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	pub, ok := a.cids[cid]
	if !ok {
		return Identity{}, false
	}
	id, ok := a.ids[pub]
	return id, ok
}

// liveConns counts pub's connections that are still up.
func (a *authenticator) liveConns(pub string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pruneLocked(pub)
}

// pruneLocked forgets client ids that are gone and returns how many are
// left.
func (a *authenticator) pruneLocked(pub string) int {
	for cid := range a.conns[pub] {
		if !a.alive(cid) {
			delete(a.conns[pub], cid)
			delete(a.cids, cid)
		}
	}
	return len(a.conns[pub])
}

func (a *authenticator) limit(id Identity) int {
	switch id.Kind {
	case KindAgent:
		return a.maxAgent
	case KindOperator:
		return a.maxOperator
	}
	return 0 // the controller's own connection is not limited
}

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	opts := c.GetOpts()
	if opts == nil || opts.Nkey == "" || opts.Sig == "" {
		return false
	}
	id, ok := a.get(opts.Nkey)
	if !ok || id.Revoked != 0 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(opts.Sig)
	if err != nil {
		if sig, err = base64.StdEncoding.DecodeString(opts.Sig); err != nil {
			return false
		}
	}
	pub, err := nkeys.FromPublicKey(opts.Nkey)
	if err != nil || pub.Verify(c.GetNonce(), sig) != nil {
		return false
	}
	var perms *server.Permissions
	if id.Kind == KindAgent && opts.Name == messages.AgentFetchConnName(id.Name) {
		perms = agentFetchPermissions(id.Name)
	} else if perms, err = permissionsFor(id); err != nil {
		return false
	}
	a.mu.Lock()
	if cur, ok := a.ids[opts.Nkey]; !ok || cur.Revoked != 0 {
		a.mu.Unlock() // revoked while we verified
		return false
	}
	if max := a.limit(id); max > 0 && a.pruneLocked(opts.Nkey) >= max {
		a.denied[opts.Nkey] = nowMs()
		a.mu.Unlock()
		a.onDeny(id, max)
		return false
	}
	if a.conns[opts.Nkey] == nil {
		a.conns[opts.Nkey] = map[uint64]struct{}{}
	}
	a.conns[opts.Nkey][c.GetID()] = struct{}{}
	a.cids[c.GetID()] = opts.Nkey
	a.logins[opts.Nkey]++
	a.mu.Unlock()
	user := &server.User{Username: id.Kind + ":" + id.Name, Permissions: perms}
	if id.Kind == KindAgent {
		// Read when the server registers the user with its account
		// (applyAccountLimits), which it does again only when the user
		// names one.
		opts.JWT = a.agentLimits
		if user.Account = a.global(); user.Account == nil {
			return false
		}
	}
	if id.Kind == KindSystem {
		if user.Account = a.system(); user.Account == nil {
			return false
		}
	}
	c.RegisterUser(user)
	return true
}

// OperatorInbox is the only inbox prefix an operator may subscribe to. It
// is derived from the public key so two operators never share replies.
func OperatorInbox(pub string) string { return "_INBOX_" + pub }

// InOperatorInbox reports whether reply is a subject under pub's inbox,
// the only place the controller answers pub's requests. pub must be a
// user key: a claimed "AGENT_<host>" would otherwise name an agent's inbox.
func InOperatorInbox(pub, reply string) bool {
	if !nkeys.IsValidPublicUserKey(pub) {
		return false
	}
	rest, ok := strings.CutPrefix(reply, OperatorInbox(pub)+".")
	return ok && rest != "" && !strings.ContainsAny(rest, "*> \t\r\n")
}

// agentEventSubjects are the event subjects host may publish: its own, of
// the agent event types only, so the type says an event is the agent's
// (messages.EventOrigin) and each host has a fixed set of subjects in the
// events stream, which per-subject limits then bound.
func agentEventSubjects(host string) []string {
	out := make([]string, 0, len(messages.AgentEventTypes))
	for _, t := range messages.AgentEventTypes {
		s, err := messages.EventSubject(host, t)
		if err == nil {
			out = append(out, s)
		}
	}
	return out
}

// permissionsFor is least privilege per identity kind:
//   - an agent hears its own command subject, the broadcast and the
//     events stream's acknowledgements of its own events, publishes
//     only its own heartbeats, events and broadcast replies (subjects
//     that end in its id), and may answer only the requests it received
//     (allow_responses); artifact reads need a connection of their own
//     (agentFetchPermissions);
//   - an operator reaches only the controller API (a read-only one only
//     the read endpoints, events and audit reads among them), and
//     receives only on its own inbox; the controller answers only there
//     (replyToSender);
//   - the controller's own connection is unrestricted.
func permissionsFor(id Identity) (*server.Permissions, error) {
	switch id.Kind {
	case KindInternal:
		return nil, nil
	case KindSystem:
		return systemPermissions(), nil
	case KindAgent:
		cmd, err := messages.CommandSubject(id.Name)
		if err != nil {
			return nil, err
		}
		hb, _ := messages.HeartbeatSubject(id.Name)
		pub := append([]string{hb, messages.AgentReplyPermission(id.Name)}, agentEventSubjects(id.Name)...)
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: pub},
			// The acknowledgement subject is the events stream's answer
			// to the agent's event publishes (its outbox): one literal
			// prefix, not an inbox wildcard.
			Subscribe: &server.SubjectPermission{Allow: []string{cmd, messages.BroadcastSubject(), messages.AgentAckSubject(id.Name) + ".*"}},
			Response:  &server.ResponsePermission{MaxMsgs: 1, Expires: messages.MaxValidity},
		}, nil
	case KindOperator:
		// No JetStream at all: operators read events and audit
		// (messages.APIStreamRead) and move artifact bytes
		// (messages.APIArtifactUpload, APIArtifactChunks) through the
		// controller, which answers only on their own inbox.
		var pub []string
		switch id.Role {
		case RoleAdmin:
			pub = append(pub, messages.APIPrefix+".>")
		case RoleReadOnly:
			pub = append(pub, messages.ReadAPISubjects...)
			pub = append(pub, messages.VerbCheckedAPISubjects...)
		default:
			return nil, fmt.Errorf("operator %s has unknown role %q", id.Name, id.Role)
		}
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: []string{OperatorInbox(id.PublicKey) + ".>"}},
		}, nil
	}
	return nil, fmt.Errorf("unknown identity kind %q", id.Kind)
}

// agentFetchPermissions are those of an agent's connection named
// messages.AgentFetchConnName: ask the controller for artifact bytes on
// the host's own request subject, receive them on the agent's own inbox,
// and nothing else (no commands, no heartbeats, and no JetStream API:
// with it, a consumer's deliver subject or a request's reply subject
// would have the server deliver stream data anywhere, see
// messages.ArtifactGetPrefix). It is the same identity, so choosing it by
// name grants nothing the host did not have.
func agentFetchPermissions(host string) *server.Permissions {
	get, _ := messages.ArtifactGetSubject(host)
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{get}},
		Subscribe: &server.SubjectPermission{Allow: []string{messages.AgentInbox(host) + ".>"}},
	}
}

func nowMs() int64 { return time.Now().UnixMilli() }
