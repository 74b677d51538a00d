package controller

import (
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// issuedCommands remembers who each command this controller signed was
// for, until it expires, so an agent's refusal of it is recorded under
// the operator the controller knows and not the one the agent names (a
// stolen agent credential could otherwise blame anyone). It is bounded:
// when full, the command closest to expiry is forgotten first, and a
// refusal of a command not (or no longer) here is recorded with the
// agent's claim marked as such.
type issuedCommands struct {
	mu  sync.Mutex
	max int
	m   map[string]issuedCommand
}

type issuedCommand struct {
	operator, role, verb string
	expires              int64 // unix ms
}

// maxIssuedCommands bounds the memory: about 100 bytes a command.
const maxIssuedCommands = 100_000

func newIssuedCommands(limit int) *issuedCommands {
	return &issuedCommands{max: limit, m: map[string]issuedCommand{}}
}

func (ic *issuedCommands) put(env *messages.Envelope) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if len(ic.m) >= ic.max {
		now := time.Now().UnixMilli()
		soonest, at := "", int64(0)
		for id, c := range ic.m {
			if c.expires <= now {
				delete(ic.m, id)
				continue
			}
			if soonest == "" || c.expires < at {
				soonest, at = id, c.expires
			}
		}
		if len(ic.m) >= ic.max {
			delete(ic.m, soonest)
		}
	}
	ic.m[env.ID] = issuedCommand{operator: env.Operator, role: env.Role, verb: env.Verb, expires: env.ExpiresAt}
}

func (ic *issuedCommands) get(id string) (issuedCommand, bool) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	c, ok := ic.m[id]
	return c, ok
}
