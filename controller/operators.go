package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/messages"
)

// operators returns every operator identity, revoked ones included.
func (c *Controller) operators() []Identity {
	c.auth.mu.RLock()
	defer c.auth.mu.RUnlock()
	var out []Identity
	for _, id := range c.auth.ids {
		if id.Kind == KindOperator {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Created < out[j].Created
	})
	return out
}

// CreateOperator registers an operator's public key with a role. The key
// pair was made by the CLI; the seed never reaches the controller.
func (c *Controller) CreateOperator(ctx context.Context, req messages.OperatorCreateRequest) (messages.OperatorInfo, error) {
	if err := messages.ValidOperatorName(req.Name); err != nil {
		return messages.OperatorInfo{}, err
	}
	if err := messages.ValidRole(req.Role); err != nil {
		return messages.OperatorInfo{}, err
	}
	if !nkeys.IsValidPublicUserKey(req.PublicKey) {
		return messages.OperatorInfo{}, &messages.Error{Code: messages.CodeBadRequest, Message: "public_key is not an NKey user public key (it starts with U)"}
	}
	if _, taken := c.auth.get(req.PublicKey); taken {
		return messages.OperatorInfo{}, &messages.Error{Code: messages.CodeConflict, Message: "this public key already belongs to an identity; generate a new key"}
	}
	for _, op := range c.operators() {
		if op.Name == req.Name && op.Revoked == 0 {
			return messages.OperatorInfo{}, &messages.Error{Code: messages.CodeConflict,
				Message: fmt.Sprintf("operator %s already exists; revoke it first or choose another name", req.Name)}
		}
	}
	id := Identity{PublicKey: req.PublicKey, Kind: KindOperator, Name: req.Name, Role: req.Role, Created: nowMs()}
	if err := c.putIdentity(ctx, id); err != nil {
		return messages.OperatorInfo{}, err
	}
	c.logger.Info("operator created", "operator", id.Name, "role", id.Role, "public_key", id.PublicKey)
	return c.operatorInfo(id), nil
}

func (c *Controller) operatorInfo(id Identity) messages.OperatorInfo {
	info := messages.OperatorInfo{Name: id.Name, Role: id.Role, PublicKey: id.PublicKey, Created: id.Created, Revoked: id.Revoked}
	if id.Revoked == 0 {
		info.Connections = c.auth.liveConns(id.PublicKey)
	}
	return info
}

// ListOperators returns every operator with its live connection count.
func (c *Controller) ListOperators(_ context.Context, _ messages.OperatorListRequest) (messages.OperatorListResult, error) {
	res := messages.OperatorListResult{Operators: []messages.OperatorInfo{}}
	for _, id := range c.operators() {
		res.Operators = append(res.Operators, c.operatorInfo(id))
	}
	return res, nil
}

// RevokeOperator revokes an operator: its live connections are closed at
// once and its key never authenticates again (a tombstone stays in the
// identities bucket). The last active admin cannot be revoked, so the
// controller can always be administered.
func (c *Controller) RevokeOperator(ctx context.Context, req messages.OperatorRevokeRequest) (messages.OperatorRevokeResult, error) {
	res := messages.OperatorRevokeResult{Name: req.Name}
	if err := messages.ValidOperatorName(req.Name); err != nil {
		return res, err
	}
	var target []Identity
	admins := 0
	for _, op := range c.operators() {
		if op.Revoked != 0 {
			continue
		}
		if op.Name == req.Name {
			target = append(target, op)
		} else if op.Role == RoleAdmin {
			admins++
		}
	}
	if len(target) == 0 {
		return res, &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf("no active operator is named %s; see foundry rbac operator list", req.Name)}
	}
	if admins == 0 && target[0].Role == RoleAdmin {
		return res, &messages.Error{Code: messages.CodeConflict, Message: fmt.Sprintf("%s is the last admin; create another admin before revoking it", req.Name)}
	}
	if call, ok := callFrom(ctx); ok && call.op.Name == req.Name {
		return res, &messages.Error{Code: messages.CodeForbidden, Message: "an operator cannot revoke itself; ask another admin"}
	}
	for _, id := range target {
		id.Revoked = nowMs()
		b, _ := json.Marshal(id)
		// The bucket watcher may apply the tombstone (and close the
		// connections) before the Put returns; count what was live.
		live := c.auth.liveClients(id.PublicKey)
		if _, err := c.ids.Put(ctx, id.PublicKey, b); err != nil {
			return res, fmt.Errorf("store revocation of %s: %w", id.Name, err)
		}
		for _, cid := range c.auth.markRevoked(id) {
			if !slices.Contains(live, cid) {
				live = append(live, cid)
			}
		}
		for _, cid := range live {
			_ = c.srv.DisconnectClientByID(cid)
			res.Disconnected++
		}
		res.PublicKey = id.PublicKey
		c.logger.Info("operator revoked", "operator", id.Name, "public_key", id.PublicKey, "disconnected", res.Disconnected)
	}
	return res, nil
}
