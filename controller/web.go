package controller

import (
	"context"

	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// WebLoginFunc issues a one-time login link to the web view for op. It is
// set by whoever serves the web view (controller/web); nil means the view
// is off.
type WebLoginFunc func(ctx context.Context, op Operator) (messages.WebLoginResult, error)

// webLogin answers `foundry controller web-login`. The request is a read
// (the link grants only the read-only view), but handing out a bearer link
// is recorded in the audit stream like a write.
func (c *Controller) webLogin(ctx context.Context, _ messages.WebLoginRequest) (messages.WebLoginResult, error) {
	if c.opts.WebLogin == nil {
		return messages.WebLoginResult{}, &messages.Error{Code: messages.CodeUnavailable,
			Message: "the web view is off; restart the controller with --http 127.0.0.1:8080"}
	}
	call, ok := callFrom(ctx)
	if !ok {
		return messages.WebLoginResult{}, &messages.Error{Code: messages.CodeUnauthenticated, Message: "no operator"}
	}
	res, err := c.opts.WebLogin(ctx, call.op)
	c.auditCall(call, err)
	return res, err
}

// Hosts is the fleet as `host list` shows it (registry joined with the
// enrolled identities, each with its state), for the web view.
func (c *Controller) Hosts(ctx context.Context) ([]messages.HostRecord, error) {
	r, err := c.hostList(ctx, messages.HostListRequest{})
	return r.Hosts, err
}

// RecordAudit appends a record to the audit stream; the web view records
// its logins with it.
func (c *Controller) RecordAudit(ctx context.Context, r messages.AuditRecord) error {
	return c.audit.record(ctx, r)
}

// Events reads the events stream like `events tail`, with the
// controller's own connection and no API round trip.
func (c *Controller) Events(ctx context.Context, q client.EventQuery, fn func(messages.Event) error) error {
	return client.StreamReader(c.nc, c.StreamRead).Events(ctx, q, fn)
}

// Audit reads the audit stream like `audit list`.
func (c *Controller) Audit(ctx context.Context, q client.AuditQuery, fn func(messages.AuditRecord) error) error {
	return client.StreamReader(c.nc, c.StreamRead).Audit(ctx, q, fn)
}

// OperatorActive says whether the operator with public key pub exists and
// is not revoked: a web session ends with its operator's credentials.
func (c *Controller) OperatorActive(pub string) bool {
	id, ok := c.auth.get(pub)
	return ok && id.Kind == KindOperator && id.Revoked == 0
}
