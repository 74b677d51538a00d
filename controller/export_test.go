package controller

import (
	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/messages"
)

// InternalConn exposes the controller's unrestricted connection so tests
// can play an attacker who got onto the command subjects.
func (c *Controller) InternalConn() *nats.Conn { return c.nc }

// Signer exposes the real signing key so tests can build expired and
// replayed commands that are otherwise valid.
func (c *Controller) Signer() *messages.Signer { return c.keys.current() }

// AgentKeys are the public keys enrolled for host.
func (c *Controller) AgentKeys(host string) []string { return c.agentIdentities(host) }

// StreamReadsWaiting is how many stream reads (events and audit follows)
// are waiting on the controller for news.
func (c *Controller) StreamReadsWaiting() int64 { return c.readsWaiting.Load() }

// APIRequestsDropped is how many API requests the controller dropped
// because their reply subject was not the sender's inbox.
func (c *Controller) APIRequestsDropped() uint64 { return c.apiDropped.Load() }
