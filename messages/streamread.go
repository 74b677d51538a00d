package messages

import (
	"fmt"
	"strings"
	"time"
)

// APIStreamRead is how operators read the events and audit streams: the
// controller reads the stream and answers on the operator's own inbox.
// Operators have no JetStream API permission at all, because NATS checks
// neither a push consumer's deliver subject nor a request's reply subject
// against the requester's permissions: with any JetStream read permission
// a stolen operator credential could have the server deliver stored
// messages to any host's command subject.
var APIStreamRead = MustAPISubject("stream", "read")

// Streams an operator may read through APIStreamRead.
const (
	StreamEvents = "events"
	StreamAudit  = "audit"
)

// Bounds of one stream read: records and bytes per answer (a single
// record larger than the byte budget is still sent alone; the largest, an
// audit record, fits in one API message even base64-encoded), and the
// longest a follow may wait for something new before answering empty.
const (
	MaxStreamReadRecords = 500
	MaxStreamReadBytes   = 1 << 20
	MaxStreamReadWait    = 10 * time.Second
)

// StreamReadRequest asks for up to Max records of Stream whose subject
// matches Filter (EventFilter or AuditFilter), stored after sequence
// After, or, when After is 0 and SinceMs is set, stored at or after
// SinceMs (unix ms). With After and SinceMs both 0 the read starts after
// the stream's last record ("only new ones"). WaitMs > 0 makes the
// controller wait up to that long for a record before answering empty,
// which is how a follow avoids polling.
type StreamReadRequest struct {
	Stream  string `json:"stream"`
	Filter  string `json:"filter"`
	After   uint64 `json:"after,omitempty"`
	SinceMs int64  `json:"since_ms,omitempty"`
	Max     int    `json:"max,omitempty"`
	WaitMs  int64  `json:"wait_ms,omitempty"`
}

// StreamRecord is one stored message: the subject it was stored under
// (NATS permissions tie it to the publisher, so readers take identity
// from it, never from Data) and its bytes as stored.
type StreamRecord struct {
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	Data    []byte `json:"data"`
}

// StreamReadResult is one answer. Next is the sequence to pass as After
// in the next request; End says that nothing matching was stored after
// Next when the controller looked, so a read of history is complete.
type StreamReadResult struct {
	Records []StreamRecord `json:"records,omitempty"`
	Next    uint64         `json:"next"`
	End     bool           `json:"end"`
}

// ValidStreamRead checks a request: a known stream, a filter of that
// stream's own form, and bounds.
func ValidStreamRead(r StreamReadRequest) error {
	bad := func(format string, a ...any) error {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, a...)}
	}
	var prefix string
	switch r.Stream {
	case StreamEvents:
		prefix = EventPrefix + "."
	case StreamAudit:
		prefix = AuditPrefix + "."
	default:
		return bad("unknown stream %q; use %s or %s", r.Stream, StreamEvents, StreamAudit)
	}
	tokens := strings.Split(strings.TrimPrefix(r.Filter, prefix), ".")
	if !strings.HasPrefix(r.Filter, prefix) || len(tokens) != 2 || len(r.Filter) > 256 {
		return bad("filter %q is not a filter of the %s stream", r.Filter, r.Stream)
	}
	for _, t := range tokens {
		if t == "" || t == ">" || (strings.Contains(t, "*") && t != "*") || strings.ContainsAny(t, " \t\r\n>") {
			return bad("filter %q is not a filter of the %s stream", r.Filter, r.Stream)
		}
	}
	if r.Max < 0 || r.Max > MaxStreamReadRecords {
		return bad("max %d is out of bounds (0 to %d)", r.Max, MaxStreamReadRecords)
	}
	if r.WaitMs < 0 || r.WaitMs > MaxStreamReadWait.Milliseconds() {
		return bad("wait_ms %d is out of bounds (0 to %d)", r.WaitMs, MaxStreamReadWait.Milliseconds())
	}
	if r.SinceMs < 0 {
		return bad("since_ms %d is negative", r.SinceMs)
	}
	return nil
}

// DecodeStreamReadRequest parses and checks a stream read request.
func DecodeStreamReadRequest(b []byte) (StreamReadRequest, error) {
	r, err := DecodeAPI[StreamReadRequest](b)
	if err != nil {
		return r, err
	}
	return r, ValidStreamRead(r)
}
