package secrets

import (
	"errors"
	"fmt"
)

// Sentinel errors for the ways talking to OpenBAO fails. Each needs a
// different fix, so callers (and the CLI's message) branch on them with
// errors.Is.
var (
	// ErrUnreachable: no HTTP answer at all (refused, DNS, TLS, timeout).
	ErrUnreachable = errors.New("OpenBAO unreachable")
	// ErrSealed: the server answers but is sealed.
	ErrSealed = errors.New("OpenBAO sealed")
	// ErrNotInitialized: the server has never been initialised.
	ErrNotInitialized = errors.New("OpenBAO not initialised")
	// ErrTokenInvalid: the token itself is unknown, revoked or expired.
	ErrTokenInvalid = errors.New("OpenBAO token invalid")
	// ErrPermissionDenied: the token is valid but its policies forbid the
	// operation.
	ErrPermissionDenied = errors.New("OpenBAO permission denied")
	// ErrNoToken: Foundry has no token to send.
	ErrNoToken = errors.New("no OpenBAO token")
)

// BaoError is a classified OpenBAO failure: what Foundry tried, against
// which server, and what to do about it. It unwraps to both its kind
// (a sentinel above) and the client's underlying error.
type BaoError struct {
	Kind   error
	Addr   string
	Op     string // e.g. "read secret/data/foundry/truenas"
	Detail string // extra facts (policies, unseal progress), never values
	Fix    string
	Err    error
}

// Error says what failed, against which server, and what to do.
func (e *BaoError) Error() string {
	msg := fmt.Sprintf("%s: %s at %s", e.Op, e.Kind, e.Addr)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// Unwrap exposes the kind and the cause to errors.Is and errors.As.
func (e *BaoError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Fix texts, one per kind, kept together so the wording stays consistent.
const (
	fixUnreachable = "check foundry.openbao.address in the stack config (or BAO_ADDR) and that OpenBAO is running and reachable"
	fixSealed      = "unseal it with `bao operator unseal` (enter the threshold number of unseal keys), then retry"
	fixNotInit     = "initialise it with `bao operator init` and keep the unseal keys and root token safe, then retry"
	fixTokenBad    = "the token is unknown, revoked or expired; run `foundry secret login` with a valid token (or set BAO_TOKEN)"
	fixDenied      = "ask an OpenBAO admin to grant this path to the token's policies, or run `foundry secret login` with a token that has them"
	fixNoToken     = "run `foundry secret login` to store a token (or set BAO_TOKEN)"
)
