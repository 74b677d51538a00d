package client

import (
	"context"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// EventQuery selects events. The controller filters by subject before it
// answers, so a client never downloads what it skips.
type EventQuery struct {
	Host   string
	Type   string
	Since  time.Duration // 0 with Follow: only new events
	Follow bool
}

// Events calls fn for each matching event in order. Without Follow it
// returns once history up to now has been delivered; with Follow it runs
// until ctx ends.
func (c *Client) Events(ctx context.Context, q EventQuery, fn func(messages.Event) error) error {
	filter, err := messages.EventFilter(q.Host, q.Type)
	if err != nil {
		return err
	}
	return readStream(ctx, c, streamQuery{stream: messages.StreamEvents, filter: filter, since: q.Since, follow: q.Follow, what: "events"},
		decodeEvent, fn)
}

// decodeEvent takes an event's host, type and source from the subject it was
// stored under (NATS permissions tie it to the publisher), never from the
// body, which is the publisher's word.
func decodeEvent(subject string, data []byte) (messages.Event, error) {
	host, typ, source, err := messages.EventOrigin(subject)
	if err != nil {
		return messages.Event{}, err
	}
	ev, err := messages.DecodeEvent(data)
	if err != nil {
		return ev, err
	}
	ev.Host, ev.Type, ev.Source = host, typ, source
	return ev, nil
}
