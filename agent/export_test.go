package agent

import (
	"context"

	"github.com/nats-io/nats.go"
)

// DialFetch exposes the artifact fetch dialer to tests.
func (a *Agent) DialFetch(ctx context.Context) (*nats.Conn, error) { return a.dialFetch(ctx) }
