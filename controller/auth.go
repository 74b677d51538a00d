package controller

import (
	"encoding/base64"
	"fmt"
	"sync"
	"time"

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

	RoleAdmin    = "admin"
	RoleReadOnly = "read-only"
)

// Identity is a NATS user known to the controller, stored in the
// identities bucket under its public key.
type Identity struct {
	PublicKey string `json:"public_key"`
	Kind      string `json:"kind"`
	Name      string `json:"name"` // host id for agents, operator name otherwise
	Role      string `json:"role,omitempty"`
	Created   int64  `json:"created"`
	Address   string `json:"address,omitempty"`
	SSHUser   string `json:"ssh_user,omitempty"`
	SSHPort   int    `json:"ssh_port,omitempty"`
}

// authenticator checks NKey signatures on the server's nonce and assigns
// per-identity permissions. It replaces static user lists so that hosts can
// be enrolled and revoked while the server runs.
type authenticator struct {
	mu    sync.RWMutex
	ids   map[string]Identity            // public key -> identity
	conns map[string]map[uint64]struct{} // public key -> live client ids
}

func newAuthenticator() *authenticator {
	return &authenticator{ids: map[string]Identity{}, conns: map[string]map[uint64]struct{}{}}
}

func (a *authenticator) set(id Identity) {
	a.mu.Lock()
	a.ids[id.PublicKey] = id
	a.mu.Unlock()
}

// remove forgets an identity and returns the client ids that were
// connected with it, so the caller can disconnect them.
func (a *authenticator) remove(pub string) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.ids, pub)
	var out []uint64
	for cid := range a.conns[pub] {
		out = append(out, cid)
	}
	delete(a.conns, pub)
	return out
}

func (a *authenticator) get(pub string) (Identity, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.ids[pub]
	return id, ok
}

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	opts := c.GetOpts()
	if opts == nil || opts.Nkey == "" || opts.Sig == "" {
		return false
	}
	id, ok := a.get(opts.Nkey)
	if !ok {
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
	perms, err := permissionsFor(id)
	if err != nil {
		return false
	}
	c.RegisterUser(&server.User{Username: id.Kind + ":" + id.Name, Permissions: perms})
	a.mu.Lock()
	if a.conns[opts.Nkey] == nil {
		a.conns[opts.Nkey] = map[uint64]struct{}{}
	}
	a.conns[opts.Nkey][c.GetID()] = struct{}{}
	a.mu.Unlock()
	return true
}

// OperatorInbox is the only inbox prefix an operator may subscribe to. It
// is derived from the public key so two operators never share replies.
func OperatorInbox(pub string) string { return "_INBOX_" + pub }

// permissionsFor is least privilege per identity kind:
//   - an agent hears its own command subject and the broadcast, publishes
//     only its own heartbeats and events, and may answer only the requests
//     it received (allow_responses);
//   - an operator reaches only the controller API and read access to the
//     events stream, and receives only on its own inbox;
//   - the controller's own connection is unrestricted.
func permissionsFor(id Identity) (*server.Permissions, error) {
	switch id.Kind {
	case KindInternal:
		return nil, nil
	case KindAgent:
		cmd, err := messages.CommandSubject(id.Name)
		if err != nil {
			return nil, err
		}
		hb, _ := messages.HeartbeatSubject(id.Name)
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{hb, messages.EventPrefix + "." + id.Name + ".>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{cmd, messages.BroadcastSubject()}},
			Response:  &server.ResponsePermission{MaxMsgs: 1, Expires: messages.MaxValidity},
		}, nil
	case KindOperator:
		api := messages.APIPrefix + ".>"
		if id.Role == RoleReadOnly {
			api = "" // read-only operators get the read endpoints only
		}
		pub := []string{
			"$JS.API.INFO",
			"$JS.API.STREAM.INFO." + EventsStream,
			"$JS.API.CONSUMER.CREATE." + EventsStream + ".>",
			"$JS.API.CONSUMER.CREATE." + EventsStream,
			"$JS.API.CONSUMER.DELETE." + EventsStream + ".>",
			"$JS.API.CONSUMER.INFO." + EventsStream + ".>",
			"$JS.API.CONSUMER.MSG.NEXT." + EventsStream + ".>",
		}
		if api != "" {
			pub = append(pub, api)
		} else {
			pub = append(pub, readAPISubjects()...)
		}
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: []string{OperatorInbox(id.PublicKey) + ".>"}},
		}, nil
	}
	return nil, fmt.Errorf("unknown identity kind %q", id.Kind)
}

// readAPISubjects are the endpoints a read-only operator may call.
func readAPISubjects() []string {
	return []string{messages.APIHostList, messages.APIFleetStatus, messages.APIInfo}
}

func nowMs() int64 { return time.Now().UnixMilli() }
