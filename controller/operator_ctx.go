package controller

import (
	"context"
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// Operator is who a request or command is on behalf of. The controller
// learns it from the operator's signature on the API request (see
// messages.VerifyAPIAuth), never from the request body.
type Operator struct {
	Name      string
	Role      string
	PublicKey string
}

// SystemOperator is the principal for commands the controller sends on
// its own, such as a trust update for a host that missed a key rotation.
// Code that runs outside an API call must say so explicitly with
// WithOperator(ctx, SystemOperator); a context without an operator cannot
// sign commands.
var SystemOperator = Operator{Name: messages.SystemOperator, Role: RoleAdmin}

type callKey struct{}

// apiCall is one authorized API call, carried in the context so that the
// commands it sends are signed for its operator and audited under its
// request id.
type apiCall struct {
	op           Operator
	action       string
	apiRequestID string

	mu          sync.Mutex
	commandSent bool
	// unchanged: the write changed nothing (an enrolment of a key already
	// enrolled, as every re-run of host add makes), so it is not audited.
	unchanged bool
}

// noteUnchanged marks ctx's API call as one that changed nothing.
func noteUnchanged(ctx context.Context) {
	if call, ok := ctx.Value(callKey{}).(*apiCall); ok && call != nil {
		call.mu.Lock()
		call.unchanged = true
		call.mu.Unlock()
	}
}

// WithOperator returns a context whose commands are signed on behalf of op.
func WithOperator(ctx context.Context, op Operator) context.Context {
	return context.WithValue(ctx, callKey{}, &apiCall{op: op, action: "internal"})
}

func withCall(ctx context.Context, call *apiCall) context.Context {
	return context.WithValue(ctx, callKey{}, call)
}

func callFrom(ctx context.Context) (*apiCall, bool) {
	call, ok := ctx.Value(callKey{}).(*apiCall)
	return call, ok && call != nil && call.op.Name != ""
}

// replayCache remembers (operator, request id) pairs of verified API
// requests until they could no longer pass the time check, so a request
// is served at most once.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]int64 // key -> forget after (unix ms)
	next int64
}

func newReplayCache() *replayCache { return &replayCache{seen: map[string]int64{}} }

// check records key, or refuses it when it was seen before.
func (r *replayCache) check(key string, reqTime int64, now time.Time) error {
	n := now.UnixMilli()
	r.mu.Lock()
	defer r.mu.Unlock()
	if n >= r.next {
		for k, exp := range r.seen {
			if exp <= n {
				delete(r.seen, k)
			}
		}
		r.next = n + time.Minute.Milliseconds()
	}
	if _, dup := r.seen[key]; dup {
		return &messages.Error{Code: messages.CodeReplayed, Message: "API request was already received; send a new request"}
	}
	r.seen[key] = reqTime + messages.APIAuthWindow.Milliseconds() + 1
	return nil
}
