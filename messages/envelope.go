package messages

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Version is the envelope version this build writes and accepts.
const Version = 1

// Size bounds for decoders. A message larger than its bound is refused
// before any parsing, so a flood of large garbage costs one length check.
const (
	MaxCommandBytes   = 64 << 10
	MaxReplyBytes     = 256 << 10
	MaxHeartbeatBytes = 16 << 10
	MaxEventBytes     = 16 << 10
	MaxAPIBytes       = 8 << 20
)

// An agent's connections may publish at most MaxAgentPublishBytes per
// message and hold at most MaxAgentSubscriptions subscriptions: the
// largest thing an agent legitimately sends is a reply (MaxReplyBytes,
// plus room for subject and headers), and it subscribes to a handful of
// subjects. The server enforces both per connection, so a stolen agent
// credential cannot push 8 MiB events into the streams or pile up
// subscriptions.
const (
	MaxAgentPublishBytes  = MaxReplyBytes + 16<<10
	MaxAgentSubscriptions = 32
)

// TargetAll in Envelope.Targets means every host that receives it.
const TargetAll = "*"

// Envelope is a signed command. Everything but Sig is covered by the
// signature, including the targets, so a captured command cannot be aimed
// at other hosts, and the expiry, so it cannot be replayed forever.
type Envelope struct {
	V         int             `json:"v"`
	ID        string          `json:"id"`
	IssuedAt  int64           `json:"iat"` // unix milliseconds
	ExpiresAt int64           `json:"exp"` // unix milliseconds
	Sender    string          `json:"from"`
	Targets   []string        `json:"to"`
	Verb      string          `json:"verb"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	// Operator and Role name who the controller signed this command for.
	// They are covered by the signature, so an agent can refuse a write
	// verb on behalf of a read-only operator even if the controller's
	// own role check were bypassed.
	Operator string `json:"op,omitempty"`
	Role     string `json:"role,omitempty"`
	KeyID    string `json:"kid,omitempty"`
	Sig      []byte `json:"sig,omitempty"`
}

// NewID returns a random 128-bit id in hex. Ids are the replay key, so they
// come from crypto/rand rather than a counter.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewEnvelope builds an unsigned envelope valid from now for ttl.
func NewEnvelope(now time.Time, ttl time.Duration, sender, verb string, targets []string, payload any) (*Envelope, error) {
	var raw json.RawMessage
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	return &Envelope{
		V: Version, ID: NewID(),
		IssuedAt: now.UnixMilli(), ExpiresAt: now.Add(ttl).UnixMilli(),
		Sender: sender, Targets: targets, Verb: verb, Payload: raw,
	}, nil
}

// SigningBytes is the canonical byte string the signature covers. It is a
// length-prefixed encoding rather than JSON so that no re-encoding, field
// order or whitespace can change what was signed.
func (e *Envelope) SigningBytes() []byte {
	sum := sha256.Sum256(e.Payload)
	b := make([]byte, 0, 128+len(e.ID)+len(e.Sender)+len(e.Verb)+16*len(e.Targets))
	b = append(b, "foundry-cmd\x00"...)
	b = binary.BigEndian.AppendUint32(b, uint32(e.V))
	b = appendString(b, e.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(e.IssuedAt))
	b = binary.BigEndian.AppendUint64(b, uint64(e.ExpiresAt))
	b = appendString(b, e.Sender)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Targets)))
	for _, t := range e.Targets {
		b = appendString(b, t)
	}
	b = appendString(b, e.Verb)
	b = appendString(b, e.Operator)
	b = appendString(b, e.Role)
	b = appendString(b, e.KeyID)
	return append(b, sum[:]...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// IsTarget reports whether host is among the envelope's targets.
func (e *Envelope) IsTarget(host string) bool {
	for _, t := range e.Targets {
		if t == host || t == TargetAll {
			return true
		}
	}
	return false
}
