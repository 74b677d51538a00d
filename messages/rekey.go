package messages

import (
	"fmt"

	"github.com/nats-io/nkeys"
)

// VerbRekey rotates a host's NATS identity in two steps, both signed
// commands on the agent's current connection (RekeyArgs.Step):
//
//   - prepare: the agent creates a new NKey seed on the host, stores it
//     beside the current one (nkey_file + ".next", written atomically),
//     keeps using the current key and answers with the new public key
//     only (RekeyReply); the seed never leaves the host.
//   - commit: once the controller has enrolled that public key, the agent
//     renames the staged seed over nkey_file (atomic), answers, and then
//     moves to a connection made with the new key.
//
// The controller revokes the old key only after the commit was answered.
// At every point the seed in nkey_file is one the controller knows: the
// old key stays enrolled until the host has switched, and the new one is
// enrolled before the host switches to it.
const VerbRekey = "rekey"

// Rekey steps.
const (
	RekeyPrepare = "prepare"
	RekeyCommit  = "commit"
)

// RekeyArgs is the payload of a rekey command. PublicKey names the staged
// key a commit installs; a prepare carries none.
type RekeyArgs struct {
	Step      string `json:"step"`
	PublicKey string `json:"public_key,omitempty"`
}

// RekeyReply is an agent's answer to a rekey step: the staged (prepare) or
// installed (commit) public key.
type RekeyReply struct {
	PublicKey string `json:"public_key"`
}

// Validate checks a rekey payload: a known step, and for a commit the
// NKey user public key it installs.
func (r RekeyArgs) Validate() error {
	switch r.Step {
	case RekeyPrepare:
		if r.PublicKey != "" {
			return &Error{Code: CodeBadRequest, Message: "rekey prepare carries no public key"}
		}
	case RekeyCommit:
		if !nkeys.IsValidPublicUserKey(r.PublicKey) {
			return &Error{Code: CodeBadRequest, Message: "rekey commit needs the staged NKey user public key (it starts with U)"}
		}
	default:
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("rekey step %q is neither %s nor %s", clipText(r.Step, 32), RekeyPrepare, RekeyCommit)}
	}
	return nil
}

// DecodeRekeyArgs parses and checks a rekey payload.
func DecodeRekeyArgs(b []byte) (RekeyArgs, error) {
	r, err := decode[RekeyArgs](b, MaxCommandBytes, "rekey arguments")
	if err != nil {
		return r, err
	}
	return r, r.Validate()
}

// DecodeRekeyReply parses an agent's rekey answer and checks that it names
// an NKey user public key.
func DecodeRekeyReply(b []byte) (RekeyReply, error) {
	r, err := decode[RekeyReply](b, MaxReplyBytes, "rekey reply")
	if err != nil {
		return r, err
	}
	if !nkeys.IsValidPublicUserKey(r.PublicKey) {
		return r, &Error{Code: CodeBadRequest, Message: "rekey reply does not name an NKey user public key"}
	}
	return r, nil
}

// Host rekey steps of the API (HostRekeyRequest.Step). The default, empty
// step runs the whole rotation through the agent; the SSH path of the CLI
// creates the key on the host itself and uses the other two around the
// switch it makes there.
const (
	HostRekeyAdd    = "add"
	HostRekeyFinish = "finish"
)

// HostRekeyRequest rotates a host's NATS identity (see VerbRekey).
// With Step HostRekeyAdd, PublicKey (made on the host over SSH) is
// enrolled beside the current key; with HostRekeyFinish every other key of
// the host is revoked and its connections are closed.
type HostRekeyRequest struct {
	Host      string `json:"host"`
	Step      string `json:"step,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
}

// Validate checks a host rekey request.
func (r HostRekeyRequest) Validate() error {
	if err := ValidHostID(r.Host); err != nil {
		return err
	}
	switch r.Step {
	case "":
		if r.PublicKey != "" {
			return &Error{Code: CodeBadRequest, Message: "a rekey through the agent takes no public key: the agent makes it"}
		}
	case HostRekeyAdd, HostRekeyFinish:
		if !nkeys.IsValidPublicUserKey(r.PublicKey) {
			return &Error{Code: CodeBadRequest, Message: "public_key is not an NKey user public key (it starts with U)"}
		}
	default:
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("rekey step %q is not one of \"\", %s, %s", clipText(r.Step, 32), HostRekeyAdd, HostRekeyFinish)}
	}
	return nil
}

// HostRekeyResult says what a rekey did: the host's key now, the keys
// revoked and how many connections that closed (a squatter's among them),
// and whether the agent was seen connected with the new key.
type HostRekeyResult struct {
	Host         string   `json:"host"`
	PublicKey    string   `json:"public_key"`
	Revoked      []string `json:"revoked,omitempty"`
	Disconnected int      `json:"disconnected"`
	AgentOnline  bool     `json:"agent_online"`
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
