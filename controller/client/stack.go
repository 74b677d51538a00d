package client

import (
	"context"

	"github.com/foundry-fleet/foundry/messages"
)

// ReportStack stores the cluster part of a status run with the
// controller, for the web view. Admin only: a read-only operator's call
// fails with an error that IsForbidden recognises.
func (c *Client) ReportStack(ctx context.Context, r messages.StackReport) (messages.StackReportResult, error) {
	return call[messages.StackReport, messages.StackReportResult](ctx, c, messages.APIStackReport, r)
}

// Stack returns the newest reported status of each cluster component.
func (c *Client) Stack(ctx context.Context) (messages.StackListResult, error) {
	return call[messages.StackListRequest, messages.StackListResult](ctx, c, messages.APIStackList, messages.StackListRequest{})
}
