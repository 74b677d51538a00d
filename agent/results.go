package agent

import (
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// maxCachedResults bounds the result cache; entries also expire with
// their command.
const maxCachedResults = 4096

// resultCache remembers the reply to every executed command until the
// command expires. The command id is the idempotency key of a job step: a
// re-delivered command is answered from here and never runs twice.
type resultCache struct {
	mu sync.Mutex
	m  map[string]cachedResult
}

type cachedResult struct {
	exp   int64 // unix ms
	reply messages.Reply
}

func (c *resultCache) put(id string, exp int64, r messages.Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedResult{}
	}
	if len(c.m) >= maxCachedResults {
		now := time.Now().UnixMilli()
		for k, v := range c.m {
			if v.exp <= now {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedResults {
			return // full of live results: the replay cache still refuses duplicates
		}
	}
	c.m[id] = cachedResult{exp: exp, reply: r}
}

func (c *resultCache) get(id string) (messages.Reply, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id]
	if !ok || r.exp <= time.Now().UnixMilli() {
		return messages.Reply{}, false
	}
	return r.reply, true
}
