package client

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/messages"
)

// streamQuery is one read of a controller stream through the
// controller's stream read endpoint (messages.APIStreamRead); the
// controller applies the filter.
type streamQuery struct {
	stream string // messages.StreamEvents or messages.StreamAudit
	filter string
	since  time.Duration // 0 with follow: only new messages
	follow bool
	what   string // for errors, e.g. "events"
}

// Read bounds. Each answer is one bounded message the reader asked for,
// so a reader cannot fall behind far enough for the server to drop it as
// a slow consumer. A follow waits up to followWait on the controller for
// news, and every call gives up readWait after that.
const (
	followWait = 5 * time.Second
	readWait   = 10 * time.Second
)

// readStream calls fn for each message of the stream that decode accepts,
// in order. Without follow it returns once the controller finds nothing
// more that matches; with follow it runs until ctx ends. It
// returns at once when ctx ends (Ctrl-C, SIGTERM), and with an error
// saying so when the connection to the controller is lost.
// Messages decode refuses are skipped: only the controller and
// permission-confined agents write these streams.
func readStream[T any](ctx context.Context, c *Client, q streamQuery, decode func(subject string, data []byte) (T, error), fn func(T) error) error {
	lost := c.nc.StatusChanged(nats.DISCONNECTED, nats.CLOSED)
	defer c.nc.RemoveStatusListener(lost)
	if c.nc.IsClosed() {
		return c.lostErr(q.what)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	connLost := make(chan struct{})
	go func() {
		select {
		case <-lost:
			close(connLost)
			cancel()
		case <-rctx.Done():
		}
	}()
	err := readStreamCtx(rctx, c, q, decode, fn)
	select {
	case <-connLost:
		return c.lostErr(q.what)
	default:
	}
	// The status listener is told asynchronously: a request can fail on
	// the closed connection before connLost is closed.
	if err != nil && c.nc.Status() != nats.CONNECTED {
		return c.lostErr(q.what)
	}
	if ctx.Err() != nil && q.follow {
		return nil // a follow ends when ctx does
	}
	return err
}

// lostErr explains a connection the server closed while reading.
func (c *Client) lostErr(what string) error {
	reason := "the controller closed the connection"
	if err := c.nc.LastError(); err != nil {
		reason += " (" + err.Error() + ")"
	}
	return fmt.Errorf("reading %s stopped: %s; it drops readers that fall behind, so retry, narrowing with --since, --host or --type", what, reason)
}

func readStreamCtx[T any](ctx context.Context, c *Client, q streamQuery, decode func(subject string, data []byte) (T, error), fn func(T) error) error {
	req := messages.StreamReadRequest{Stream: q.stream, Filter: q.filter}
	if q.since > 0 {
		req.SinceMs = max(time.Now().Add(-q.since).UnixMilli(), 1)
	}
	if q.follow {
		req.WaitMs = followWait.Milliseconds()
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, followWait+readWait)
		var res messages.StreamReadResult
		var err error
		if c.read != nil {
			res, err = c.read(cctx, req)
		} else {
			res, err = call[messages.StreamReadRequest, messages.StreamReadResult](cctx, c, messages.APIStreamRead, req)
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read %s: %w", q.what, err)
		}
		for _, r := range res.Records {
			v, err := decode(r.Subject, r.Data)
			if err != nil {
				continue
			}
			if err := fn(v); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res.End && !q.follow {
			return nil
		}
		if res.Next < req.After {
			return fmt.Errorf("read %s: the controller went back from record %d to %d; retry", q.what, req.After, res.Next)
		}
		// Next is 0 only while the stream was empty: everything stored
		// from then on is wanted, which "only new" (After and SinceMs 0)
		// would not give once something has been stored.
		req.After = res.Next
		if res.Next > 0 {
			req.SinceMs = 0
		} else if req.SinceMs == 0 {
			req.SinceMs = 1
		}
	}
}

// StreamReadFunc answers one read of the events or audit stream, as the
// controller's stream-read endpoint does.
type StreamReadFunc func(context.Context, messages.StreamReadRequest) (messages.StreamReadResult, error)

// StreamReader reads the events and audit streams with the CLI's filters
// and follow logic, but through read instead of the API: the controller's
// web view passes its own StreamRead over its own connection nc. It has no
// operator key, so it can read streams but not call the API.
func StreamReader(nc *nats.Conn, read StreamReadFunc) *Client {
	return &Client{nc: nc, read: read, denied: map[string]map[chan struct{}]struct{}{}}
}
