package client

import (
	"context"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// AuditQuery selects audit records. The operator filter is applied by the
// controller by subject before it answers.
type AuditQuery struct {
	Operator string
	Since    time.Duration // 0 with Follow: only new records
	Follow   bool
}

// Audit calls fn for each matching audit record in order. Without Follow
// it returns once the records up to now have been delivered; with Follow
// it runs until ctx ends.
func (c *Client) Audit(ctx context.Context, q AuditQuery, fn func(messages.AuditRecord) error) error {
	filter, err := messages.AuditFilter(q.Operator)
	if err != nil {
		return err
	}
	return readStream(ctx, c, streamQuery{stream: messages.StreamAudit, filter: filter, since: q.Since, follow: q.Follow, what: "audit records"},
		func(_ string, b []byte) (messages.AuditRecord, error) { return messages.DecodeAuditRecord(b) }, fn)
}
