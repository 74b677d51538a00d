package controller

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/foundry-fleet/foundry/messages"
)

// rekeyTimeout bounds each rekey step's wait for the agent's answer.
const rekeyTimeout = 15 * time.Second

// rekeyOnlineWait bounds how long a rekey waits to see the agent connected
// with its new key before it reports.
const rekeyOnlineWait = 10 * time.Second

// RekeyHost rotates a host's NATS identity. Through the agent (no step):
// prepare (the agent stages a new seed and answers with its public key),
// enrol that key beside the current one, commit (the agent installs it
// and moves to a connection made with it), then revoke every other key
// of the host, closing every connection made with them, a squatter's
// with a stolen seed among them. The old key is revoked only once the
// agent confirmed the commit, so the host is never left with a key the
// controller does not know (see agent.handleRekey for the host's half).
// With HostRekeyAdd and HostRekeyFinish the CLI does the host's half
// over SSH and the controller only enrols and revokes.
func (c *Controller) RekeyHost(ctx context.Context, req messages.HostRekeyRequest) (messages.HostRekeyResult, error) {
	res := messages.HostRekeyResult{Host: req.Host}
	if err := req.Validate(); err != nil {
		return res, err
	}
	cur, ok := c.currentAgentIdentity(req.Host)
	if !ok {
		return res, &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf("host %s has no enrolled key; see foundry host list, or add it with foundry host add", req.Host)}
	}
	switch req.Step {
	case messages.HostRekeyAdd:
		res.PublicKey = req.PublicKey
		return res, c.addAgentKey(ctx, cur, req.PublicKey)
	case messages.HostRekeyFinish:
		res.PublicKey = req.PublicKey
		if id, ok := c.auth.get(req.PublicKey); !ok || id.Kind != KindAgent || id.Name != req.Host || id.Revoked != 0 {
			return res, &messages.Error{Code: messages.CodeConflict, Message: fmt.Sprintf("key %s is not enrolled for host %s; run foundry host rekey %s --ssh again", req.PublicKey, req.Host, req.Host)}
		}
		return c.finishRekey(ctx, res)
	}

	// Whoever answers the prepare chooses the new key, and a squatter with
	// the stolen seed answers as well as the agent: go through NATS only
	// when the key's connections look like the agent alone, before and
	// after the prepare, with no login in between.
	before := c.keyCensus(cur)
	if len(before.conns) == 0 {
		return res, &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
			"the agent of %s is not connected; run foundry host rekey %s --ssh", req.Host, req.Host)}
	}
	if why := rekeyUnsafe(cur, before, time.Now()); why != "" {
		return res, &messages.Error{Code: messages.CodeConflict, Message: fmt.Sprintf(
			"rekey of %s through its agent refused: %s; the key may be in someone else's hands: run foundry host rekey %s --ssh", req.Host, why, req.Host)}
	}
	rep, err := c.rekeyStep(ctx, req.Host, messages.RekeyArgs{Step: messages.RekeyPrepare})
	if err != nil {
		return res, err
	}
	if after := c.keyCensus(cur); after.logins != before.logins || !slices.Equal(after.cids, before.cids) {
		return res, &messages.Error{Code: messages.CodeConflict, Message: fmt.Sprintf(
			"rekey of %s through its agent stopped: a connection with its key came or went during the exchange, so the answer may not be the agent's; nothing was enrolled; run foundry host rekey %s again, or with --ssh", req.Host, req.Host)}
	}
	res.PublicKey = rep.PublicKey
	if err := c.addAgentKey(ctx, cur, rep.PublicKey); err != nil {
		return res, err
	}
	if _, err := c.rekeyStep(ctx, req.Host, messages.RekeyArgs{Step: messages.RekeyCommit, PublicKey: rep.PublicKey}); err != nil {
		return res, fmt.Errorf("%w (both the old and the new key stay valid until a rekey completes; run foundry host rekey %s again, or with --ssh)", err, req.Host)
	}
	return c.finishRekey(ctx, res)
}

// finishRekey revokes every key of the host but res.PublicKey and waits
// (briefly) to see the agent connected with that key.
func (c *Controller) finishRekey(ctx context.Context, res messages.HostRekeyResult) (messages.HostRekeyResult, error) {
	wctx := context.WithoutCancel(ctx) // a revocation is not left half done
	for _, pub := range c.agentIdentities(res.Host) {
		if pub == res.PublicKey {
			continue
		}
		n, err := c.revokeCount(wctx, pub)
		if err != nil {
			return res, err
		}
		res.Revoked = append(res.Revoked, pub)
		res.Disconnected += n
	}
	res.AgentOnline = c.waitKeyConnected(ctx, res.PublicKey, rekeyOnlineWait)
	c.publishEvent(messages.Event{Host: res.Host, Type: messages.EventHostRekeyed, Severity: messages.SeverityWarning,
		Message: fmt.Sprintf("agent identity rotated: %d old key(s) revoked, %d connection(s) closed", len(res.Revoked), res.Disconnected),
		Fields:  map[string]string{"public_key": res.PublicKey}})
	return res, nil
}

// keyCensus is what the server knows of the connections made with one
// agent key (this server's; each controller of a cluster sees its own).
type keyCensus struct {
	cids   []uint64
	conns  []keyConn
	logins uint64
	denied int64 // unix ms of the last refusal for the connection limit
}

type keyConn struct{ name, ip string }

func (c *Controller) keyCensus(id Identity) keyCensus {
	cids, logins, denied := c.auth.keyActivity(id.PublicKey)
	k := keyCensus{cids: cids, logins: logins, denied: denied}
	for _, cid := range cids {
		cz, err := c.srv.Connz(&server.ConnzOptions{CID: cid, State: server.ConnOpen})
		if err != nil || len(cz.Conns) == 0 {
			continue // closed since
		}
		k.conns = append(k.conns, keyConn{name: cz.Conns[0].Name, ip: cz.Conns[0].IP})
	}
	return k
}

// rekeyDeniedWindow is how recent a refusal for the connection limit
// makes a rekey through the agent unsafe: someone held the key's slots.
const rekeyDeniedWindow = 10 * time.Minute

// rekeyUnsafe says why the key's connections do not look like the agent
// alone, or "": exactly one command connection, nothing but an artifact
// fetch beside it, every one from the host's address when that is an IP,
// and no refusal for the connection limit lately (a squatter holding
// every slot leaves the agent refused).
func rekeyUnsafe(id Identity, k keyCensus, now time.Time) string {
	cmd, other := 0, 0
	var ips []string
	for _, cn := range k.conns {
		switch cn.name {
		case "foundry-agent:" + id.Name:
			cmd++
		case messages.AgentFetchConnName(id.Name):
		default:
			other++
		}
		if !slices.Contains(ips, cn.ip) {
			ips = append(ips, cn.ip)
		}
	}
	switch {
	case cmd == 0:
		return "its agent is not connected"
	case cmd > 1:
		return fmt.Sprintf("%d connections present themselves as its agent", cmd)
	case other > 0:
		return fmt.Sprintf("%d other connection(s) use its key", other)
	case k.denied != 0 && now.Sub(time.UnixMilli(k.denied)) < rekeyDeniedWindow:
		return fmt.Sprintf("a connection with its key was refused for the connection limit at %s (its slots were taken)", time.UnixMilli(k.denied).UTC().Format(time.RFC3339))
	}
	if ip := net.ParseIP(id.Address); ip != nil {
		for _, got := range ips {
			if !net.ParseIP(got).Equal(ip) {
				return fmt.Sprintf("a connection with its key comes from %s, not from the host's address %s", got, id.Address)
			}
		}
	}
	return ""
}

// rekeyStep sends one rekey command to host and returns its answer.
func (c *Controller) rekeyStep(ctx context.Context, host string, args messages.RekeyArgs) (messages.RekeyReply, error) {
	cmd := command{verb: messages.VerbRekey, targets: []string{host}, hosts: []string{host}, ttl: rekeyTimeout, payload: args}
	_, fr, err := c.runCommand(ctx, cmd)
	if err != nil {
		return messages.RekeyReply{}, err
	}
	r, ok := fr.replies[host]
	switch {
	case !ok:
		return messages.RekeyReply{}, &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
			"rekey %s: the agent of %s did not answer (%s); if it cannot be reached, run foundry host rekey %s --ssh", args.Step, host, fr.missing[host], host)}
	case r.reply.Error != nil && r.reply.Error.Code == messages.CodeUnknownVerb:
		return messages.RekeyReply{}, &messages.Error{Code: r.reply.Error.Code, Message: fmt.Sprintf(
			"the agent of %s is too old to rekey itself (%s); run foundry host rekey %s --ssh", host, r.reply.Error.Message, host)}
	case r.reply.Error != nil:
		return messages.RekeyReply{}, &messages.Error{Code: r.reply.Error.Code, Message: fmt.Sprintf("rekey %s on %s: %s", args.Step, host, r.reply.Error.Message)}
	}
	rep, err := messages.DecodeRekeyReply(r.reply.Payload)
	if err != nil {
		return rep, fmt.Errorf("rekey %s on %s: %w", args.Step, host, err)
	}
	if args.Step == messages.RekeyCommit && rep.PublicKey != args.PublicKey {
		return rep, &messages.Error{Code: messages.CodeConflict, Message: fmt.Sprintf("rekey commit on %s installed another key than the one enrolled; run foundry host rekey %s again", host, host)}
	}
	return rep, nil
}

// currentAgentIdentity is one live identity of host, whose address and
// assignment a new key inherits.
func (c *Controller) currentAgentIdentity(host string) (Identity, bool) {
	for _, pub := range c.agentIdentities(host) {
		if id, ok := c.auth.get(pub); ok && id.Revoked == 0 {
			return id, true
		}
	}
	return Identity{}, false
}

// addAgentKey enrols pub for cur's host beside the keys it has, with the
// same address and operator-assigned role and labels. Unlike Enroll it
// revokes nothing: the host may still be using its current key.
func (c *Controller) addAgentKey(ctx context.Context, cur Identity, pub string) error {
	if existing, ok := c.auth.get(pub); ok {
		if existing.Kind == KindAgent && existing.Name == cur.Name && existing.Revoked == 0 {
			return nil // a re-run of the same step
		}
		return &messages.Error{Code: messages.CodeForbidden, Message: "this public key already belongs to another identity; run foundry host rekey again for a new key"}
	}
	id := cur
	id.PublicKey, id.Created = pub, nowMs()
	return c.putIdentity(ctx, id)
}

// revokeCount is revoke, and says how many connections it closed.
func (c *Controller) revokeCount(ctx context.Context, pub string) (int, error) {
	n := c.auth.liveConns(pub)
	return n, c.revoke(ctx, pub)
}

// waitKeyConnected polls until a connection authenticated with pub is up,
// or within elapses.
func (c *Controller) waitKeyConnected(ctx context.Context, pub string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if c.auth.liveConns(pub) > 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return c.auth.liveConns(pub) > 0
		case <-time.After(50 * time.Millisecond):
		}
	}
}
