package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/messages"
)

// loadIdentities fills the authenticator from the identities bucket and
// keeps following it (applyIdentity), so an identity enrolled or revoked
// through any controller of a cluster takes effect on every one.
func (c *Controller) loadIdentities(ctx, runCtx context.Context) error {
	if err := c.follow(ctx, runCtx, c.ids, c.applyIdentity); err != nil {
		return fmt.Errorf("load identities: %w", err)
	}
	return nil
}

// applyIdentity brings the authenticator in line with one identities
// entry. A deleted key (a host re-enrolled with a new key, or removed) and
// a tombstone (a revoked operator) close that identity's connections on
// this controller, whichever controller made the change.
func (c *Controller) applyIdentity(ch kvChange, _ bool) {
	pub := ch.key
	switch ch.op {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		c.disconnect(c.auth.remove(pub))
		return
	}
	var id Identity
	if json.Unmarshal(ch.value, &id) != nil || id.PublicKey != pub {
		c.logger.Warn("skipping damaged identity", "key", pub)
		return
	}
	if id.Revoked != 0 {
		c.disconnect(c.auth.markRevoked(id))
		return
	}
	c.auth.set(id)
}

func (c *Controller) disconnect(cids []uint64) {
	for _, cid := range cids {
		_ = c.srv.DisconnectClientByID(cid)
	}
}

// ensureAdmin creates the bootstrap admin operator on first start. Its seed
// stays in the data directory (0600) for the local CLI.
func (c *Controller) ensureAdmin(ctx context.Context) error {
	kp, created, err := loadOrCreateNKey(filepath.Join(c.opts.DataDir, AdminCredsFile))
	if err != nil {
		return err
	}
	pub, _ := kp.PublicKey()
	id := Identity{PublicKey: pub, Kind: KindOperator, Name: "admin", Role: RoleAdmin, Created: nowMs()}
	if _, known := c.auth.get(pub); known && !created {
		return nil
	}
	return c.putIdentity(ctx, id)
}

func (c *Controller) putIdentity(ctx context.Context, id Identity) error {
	b, _ := json.Marshal(id)
	if _, err := c.ids.Put(ctx, id.PublicKey, b); err != nil {
		return fmt.Errorf("store identity %s: %w", id.Name, err)
	}
	c.auth.set(id)
	return nil
}

// agentIdentities returns the public keys enrolled for host.
func (c *Controller) agentIdentities(host string) []string { return c.auth.agentKeys(host) }

// agents returns every agent identity.
func (c *Controller) agents() []Identity {
	c.auth.mu.RLock()
	defer c.auth.mu.RUnlock()
	var out []Identity
	for _, id := range c.auth.ids {
		if id.Kind == KindAgent {
			out = append(out, id)
		}
	}
	return out
}

// Enroll registers a host's agent public key. Enrolling the same key again
// changes nothing; a new key for the same host replaces (and disconnects)
// the old one, which is how a broken host is repaired.
func (c *Controller) Enroll(ctx context.Context, req messages.EnrollRequest) (messages.EnrollResult, error) {
	res := messages.EnrollResult{Host: req.Host, URLs: c.clientURLs(), CAPEM: string(c.caPEM), TrustedKeys: c.TrustedKeys()}
	if err := messages.ValidHostID(req.Host); err != nil {
		return res, err
	}
	if err := messages.ValidHostLabels(req.Role, req.Labels); err != nil {
		return res, err
	}
	if !nkeys.IsValidPublicUserKey(req.PublicKey) {
		return res, &messages.Error{Code: messages.CodeBadRequest, Message: "public_key is not an NKey user public key (it starts with U)"}
	}
	if existing, ok := c.auth.get(req.PublicKey); ok {
		if existing.Kind != KindAgent || existing.Name != req.Host {
			return res, &messages.Error{Code: messages.CodeForbidden, Message: "this public key already belongs to another identity; generate a new key"}
		}
		// host add and host configure (they send the address) assign the
		// role and labels anew; a bare enroll leaves them alone.
		if req.Address != "" && (existing.Address != req.Address || existing.SSHUser != req.SSHUser || existing.SSHPort != req.SSHPort ||
			existing.HostRole != req.Role || !maps.Equal(existing.HostLabels, req.Labels)) {
			existing.Address, existing.SSHUser, existing.SSHPort = req.Address, req.SSHUser, req.SSHPort
			existing.HostRole, existing.HostLabels = req.Role, req.Labels
			if err := c.putIdentity(ctx, existing); err != nil {
				return res, err
			}
			return res, nil
		}
		noteUnchanged(ctx)
		return res, nil
	}
	for _, old := range c.agentIdentities(req.Host) {
		if err := c.revoke(ctx, old); err != nil {
			return res, err
		}
	}
	id := Identity{PublicKey: req.PublicKey, Kind: KindAgent, Name: req.Host, Created: nowMs(),
		Address: req.Address, SSHUser: req.SSHUser, SSHPort: req.SSHPort, HostRole: req.Role, HostLabels: req.Labels}
	if err := c.putIdentity(ctx, id); err != nil {
		return res, err
	}
	res.Created = true
	c.publishEvent(messages.Event{Host: req.Host, Type: messages.EventHostEnrolled, Severity: messages.SeverityInfo,
		Message: "agent identity enrolled", Fields: map[string]string{"public_key": req.PublicKey}})
	return res, nil
}

// revoke deletes an identity and disconnects every connection using it.
func (c *Controller) revoke(ctx context.Context, pub string) error {
	if err := c.ids.Delete(ctx, pub); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("revoke identity: %w", err)
	}
	for _, cid := range c.auth.remove(pub) {
		_ = c.srv.DisconnectClientByID(cid)
	}
	return nil
}

// RevokeHost removes every identity of host and its registry entry.
func (c *Controller) RevokeHost(ctx context.Context, host string) error {
	for _, pub := range c.agentIdentities(host) {
		if err := c.revoke(ctx, pub); err != nil {
			return err
		}
	}
	return c.reg.forget(ctx, host)
}
