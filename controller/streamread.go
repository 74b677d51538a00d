package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/messages"
)

// streamFollowCheck is how often a waiting follow looks at the stream even
// without news: the news subscription may see a message a moment before
// the stream has stored it.
const streamFollowCheck = 250 * time.Millisecond

// streamNames maps an operator-readable stream to its JetStream name and
// the subjects whose publishes mean news for its followers.
var streamNames = map[string]struct{ name, wildcard string }{
	messages.StreamEvents: {EventsStream, messages.EventWildcard},
	messages.StreamAudit:  {messages.AuditStream, messages.AuditWildcard},
}

// maxWaitingReads bounds the stream reads one operator may have waiting
// for news at once. A follow keeps one waiting, so this is many
// terminals' worth; without it one credential could park any number of
// goroutines and timers on the controller for MaxStreamReadWait each.
const maxWaitingReads = 16

// newsBoard wakes waiting follows when something is published into a
// stream they read: each stream has a channel closed (and replaced) on
// every publish. It also counts each operator's waiting reads.
type newsBoard struct {
	mu      sync.Mutex
	ch      map[string]chan struct{}
	waiting map[string]int
}

func newNewsBoard() *newsBoard {
	return &newsBoard{ch: map[string]chan struct{}{}, waiting: map[string]int{}}
}

// startWaiting counts one more waiting read of operator, unless it has
// maxWaitingReads already.
func (b *newsBoard) startWaiting(operator string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	// The controller's own reads (the web view, no operator) are not
	// an operator's to bound.
	if operator != "" && b.waiting[operator] >= maxWaitingReads {
		return false
	}
	b.waiting[operator]++
	return true
}

func (b *newsBoard) stopWaiting(operator string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting[operator]--; b.waiting[operator] <= 0 {
		delete(b.waiting, operator)
	}
}

// wait returns a channel closed at the next publish into stream.
func (b *newsBoard) wait(stream string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.ch[stream]
	if !ok {
		ch = make(chan struct{})
		b.ch[stream] = ch
	}
	return ch
}

func (b *newsBoard) bump(stream string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.ch[stream]; ok {
		close(ch)
		delete(b.ch, stream)
	}
}

// startStreamNews subscribes to what the operator-readable streams store,
// so follows answer as soon as a record arrives.
func (c *Controller) startStreamNews() error {
	for stream, s := range streamNames {
		if _, err := c.nc.Subscribe(s.wildcard, func(*nats.Msg) { c.news.bump(stream) }); err != nil {
			return fmt.Errorf("watch the %s stream: %w", stream, err)
		}
	}
	return nil
}

// StreamRead serves events and audit reads to operators (messages.APIStreamRead).
// The controller reads the stream with its own connection, and handle
// answers only on the operator's own inbox, so operators need no
// JetStream permission.
func (c *Controller) StreamRead(ctx context.Context, req messages.StreamReadRequest) (messages.StreamReadResult, error) {
	if err := messages.ValidStreamRead(req); err != nil {
		return messages.StreamReadResult{}, err
	}
	s := streamNames[req.Stream]
	limit := req.Max
	if limit == 0 {
		limit = messages.MaxStreamReadRecords
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(req.WaitMs)*time.Millisecond+15*time.Second)
	defer cancel()
	after := req.After
	var since *time.Time
	switch {
	case after > 0:
	case req.SinceMs > 0:
		t := time.UnixMilli(req.SinceMs)
		since = &t
	default:
		last, err := c.streamLastSeq(ctx, s.name)
		if err != nil {
			return messages.StreamReadResult{}, err
		}
		after = last
	}
	deadline := time.Now().Add(time.Duration(req.WaitMs) * time.Millisecond)
	waiting, who := false, callerKey(ctx)
	defer func() {
		if waiting {
			c.readsWaiting.Add(-1)
			c.news.stopWaiting(who)
		}
	}()
	for {
		news := c.news.wait(req.Stream)
		res, err := c.readRecords(ctx, s.name, req.Filter, after, since, limit)
		if err != nil || len(res.Records) > 0 || !time.Now().Before(deadline) {
			return res, err
		}
		after, since = res.Next, nil
		if !waiting {
			if !c.news.startWaiting(who) {
				return res, &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf("%d follows of yours are already waiting on the controller, the most it keeps; end one and retry", maxWaitingReads)}
			}
			waiting = true
			c.readsWaiting.Add(1)
		}
		t := time.NewTimer(min(time.Until(deadline), streamFollowCheck))
		select {
		case <-news:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return res, nil
		}
		t.Stop()
	}
}

// readRecords reads up to max records matching filter after sequence
// after (or from since), within the byte budget of one answer.
func (c *Controller) readRecords(ctx context.Context, stream, filter string, after uint64, since *time.Time, max int) (messages.StreamReadResult, error) {
	res := messages.StreamReadResult{Next: after}
	size := 0
	for len(res.Records) < max && size < messages.MaxStreamReadBytes {
		q := jsMsgGet{NextFor: filter, Seq: res.Next + 1}
		if since != nil {
			q.Seq, q.StartTime = 0, since
			since = nil
		}
		m, err := c.msgGet(ctx, stream, q)
		if errors.Is(err, errNoMsg) {
			res.End = true
			if res.Next == 0 && q.StartTime != nil {
				// Nothing since then: a follow goes on from the end.
				last, err := c.streamLastSeq(ctx, stream)
				if err != nil {
					return res, err
				}
				res.Next = last
			}
			return res, nil
		}
		if err != nil {
			return res, err
		}
		if size > 0 && size+len(m.Data)+len(m.Subject) > messages.MaxStreamReadBytes {
			break
		}
		res.Records = append(res.Records, messages.StreamRecord{Seq: m.Seq, Subject: m.Subject, Data: m.Data})
		res.Next = m.Seq
		size += len(m.Data) + len(m.Subject)
	}
	return res, nil
}

// jsMsgGet is JetStream's message get request (STREAM.MSG.GET): the
// first message at or after Seq, or stored at or after StartTime, whose
// subject matches NextFor.
type jsMsgGet struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

type jsStoredMsg struct {
	Subject string `json:"subject"`
	Seq     uint64 `json:"seq"`
	Data    []byte `json:"data"`
}

type jsAPIError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

// errNoMsg is JetStream's "no message found".
var errNoMsg = errors.New("no message found")

// jsErrNoMessageFound is JetStream's error code for a get that found nothing.
const jsErrNoMessageFound = 10037

func (c *Controller) msgGet(ctx context.Context, stream string, q jsMsgGet) (jsStoredMsg, error) {
	b, _ := json.Marshal(q)
	var resp struct {
		Message *jsStoredMsg `json:"message"`
		Error   *jsAPIError  `json:"error"`
	}
	if err := c.jsAPI(ctx, "$JS.API.STREAM.MSG.GET."+stream, b, &resp); err != nil {
		return jsStoredMsg{}, err
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == jsErrNoMessageFound || resp.Error.Code == 404 {
			return jsStoredMsg{}, errNoMsg
		}
		return jsStoredMsg{}, fmt.Errorf("read stream %s: %s", stream, resp.Error.Description)
	}
	if resp.Message == nil {
		return jsStoredMsg{}, fmt.Errorf("read stream %s: empty answer", stream)
	}
	return *resp.Message, nil
}

func (c *Controller) streamLastSeq(ctx context.Context, stream string) (uint64, error) {
	var resp struct {
		State *struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
		Error *jsAPIError `json:"error"`
	}
	if err := c.jsAPI(ctx, "$JS.API.STREAM.INFO."+stream, nil, &resp); err != nil {
		return 0, err
	}
	if resp.Error != nil || resp.State == nil {
		return 0, fmt.Errorf("read stream %s: %v", stream, resp.Error)
	}
	return resp.State.LastSeq, nil
}

func (c *Controller) jsAPI(ctx context.Context, subject string, body []byte, out any) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := c.nc.RequestWithContext(rctx, subject, body)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	if err := json.Unmarshal(m.Data, out); err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	return nil
}
