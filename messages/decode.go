package messages

import (
	"encoding/json"
	"fmt"
)

// decode bounds the input before parsing it, so oversized input is refused
// without being read, and names what failed to decode.
func decode[T any](b []byte, max int, what string) (T, error) {
	var v T
	if len(b) > max {
		return v, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("%s is %d bytes, more than the limit of %d", what, len(b), max)}
	}
	if len(b) == 0 {
		return v, &Error{Code: CodeBadRequest, Message: what + " is empty"}
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("%s is not valid: %v", what, err)}
	}
	return v, nil
}

// DecodeEnvelope parses a command envelope. It does not verify it.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	e, err := decode[Envelope](b, MaxCommandBytes, "command")
	if err != nil {
		return nil, err
	}
	if e.ID == "" || e.Verb == "" {
		return nil, &Error{Code: CodeBadRequest, Message: "command has no id or verb"}
	}
	return &e, nil
}

// DecodeHeartbeat parses a heartbeat.
func DecodeHeartbeat(b []byte) (Heartbeat, error) {
	h, err := decode[Heartbeat](b, MaxHeartbeatBytes, "heartbeat")
	if err != nil {
		return h, err
	}
	if h.V != Version {
		return h, &Error{Code: CodeUnsupported, Message: fmt.Sprintf("heartbeat version %d is not supported", h.V)}
	}
	switch h.Kind {
	case KindRegister, KindHeartbeat, KindGoodbye:
	default:
		return h, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("heartbeat kind %q is unknown", h.Kind)}
	}
	if err := ValidInstance(h.Instance); err != nil {
		return h, err
	}
	return h, nil
}

// DecodeReply parses an agent's reply to a command.
func DecodeReply(b []byte) (Reply, error) { return decode[Reply](b, MaxReplyBytes, "reply") }

// DecodeEvent parses an event.
func DecodeEvent(b []byte) (Event, error) {
	e, err := decode[Event](b, MaxEventBytes, "event")
	if err != nil {
		return e, err
	}
	if err := ValidInstance(e.Instance); err != nil {
		return e, err
	}
	return e, nil
}

// DecodeStatusReply parses the payload of a status reply.
func DecodeStatusReply(b []byte) (StatusReply, error) {
	return decode[StatusReply](b, MaxReplyBytes, "status reply")
}

// DecodeAPI parses a controller API request or response body of type T.
func DecodeAPI[T any](b []byte) (T, error) { return decode[T](b, MaxAPIBytes, "API message") }
