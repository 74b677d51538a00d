package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamQuery is one read of a controller stream through an ordered
// consumer; the filter is applied by the server.
type streamQuery struct {
	stream string
	filter string
	since  time.Duration // 0 with follow: only new messages
	follow bool
	what   string // for errors, e.g. "events"
}

// Read bounds. A reader never asks for more than readBatchBytes at once,
// so it cannot fall far enough behind for the server to drop it as a slow
// consumer; and it gives up after maxResets attempts to recreate its
// consumer (the library's default is to retry for ever, which made
// `events list` hang for minutes after a disconnect).
const (
	readBatch      = 500
	readBatchBytes = 4 << 20
	readWait       = 2 * time.Second
	maxResets      = 3
)

// readStream calls fn for each message of the stream that decode accepts,
// in order. Without follow it returns once what was pending when it
// started has been delivered; with follow it runs until ctx ends. It
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
	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{q.filter}, DeliverPolicy: jetstream.DeliverNewPolicy,
		MaxResetAttempts: maxResets}
	if q.since > 0 {
		start := time.Now().Add(-q.since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := js.OrderedConsumer(ctx, q.stream, cfg)
	if err != nil {
		return fmt.Errorf("open %s stream: %w", q.what, err)
	}
	if !q.follow {
		return drain(ctx, cons, q.what, decode, fn)
	}
	errc := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		v, err := decode(m.Subject(), m.Data())
		if err != nil {
			return
		}
		if err := fn(v); err != nil {
			select {
			case errc <- err:
			default:
			}
		}
	}, jetstream.PullMaxBytes(readBatchBytes), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrOrderedConsumerReset) || errors.Is(err, nats.ErrConnectionClosed) {
			select {
			case errc <- fmt.Errorf("follow %s: %w", q.what, err):
			default:
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("follow %s: %w", q.what, err)
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// drain delivers the messages pending when the consumer was created.
func drain[T any](ctx context.Context, cons jetstream.Consumer, what string, decode func(subject string, data []byte) (T, error), fn func(T) error) error {
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		fctx, cancel := context.WithTimeout(ctx, readWait)
		batch, err := cons.Fetch(int(min(pending, readBatch)), jetstream.FetchContext(fctx), jetstream.FetchMaxBytes(readBatchBytes))
		if err != nil {
			cancel()
			return fmt.Errorf("read %s: %w", what, err)
		}
		got := uint64(0)
		for m := range batch.Messages() {
			got++
			if v, err := decode(m.Subject(), m.Data()); err == nil {
				if err := fn(v); err != nil {
					cancel()
					return err
				}
			}
		}
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read %s: %w", what, err)
		}
		if got == 0 {
			return nil
		}
		pending -= min(got, pending)
	}
	return nil
}

// StreamReader wraps a connection that already exists (the controller's
// own, for its web view) so it reads the events and audit streams with the
// same consumers and filters as the CLI. It has no operator key, so it can
// read streams but not call the API.
func StreamReader(nc *nats.Conn) *Client {
	return &Client{nc: nc, denied: map[string]map[chan struct{}]struct{}{}}
}
