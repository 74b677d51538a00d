package client

import (
	"context"

	"github.com/foundry-fleet/foundry/messages"
)

// RunJob starts a rolling job and returns its record as created.
func (c *Client) RunJob(ctx context.Context, req messages.JobRunRequest) (messages.JobRecord, error) {
	return call[messages.JobRunRequest, messages.JobRecord](ctx, c, messages.APIJobRun, req)
}

// Job returns one job with its per-host results.
func (c *Client) Job(ctx context.Context, id string) (messages.JobRecord, error) {
	return call[messages.JobShowRequest, messages.JobRecord](ctx, c, messages.APIJobShow, messages.JobShowRequest{ID: id})
}

// Jobs lists jobs, newest first.
func (c *Client) Jobs(ctx context.Context) (messages.JobListResult, error) {
	return call[messages.JobListRequest, messages.JobListResult](ctx, c, messages.APIJobList, messages.JobListRequest{})
}
