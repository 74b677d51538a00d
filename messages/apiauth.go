package messages

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nkeys"
)

// API request authentication. NATS tells a responder nothing about who
// sent a request, and any header a client sets is the client's word. So
// the CLI signs every API request with its operator NKey (the same key
// that authenticated its connection) and the controller verifies the
// signature against its identity store. The signature covers the subject,
// so a signed read cannot be replayed as a write; a timestamp and a random
// request id, so it cannot be replayed at all (the controller remembers
// ids for APIAuthWindow); and the body's SHA-256, so it cannot be altered.
const (
	HeaderOperator  = "Foundry-Operator"   // operator NKey public key (U...)
	HeaderRequestID = "Foundry-Request-Id" // 128-bit random hex
	HeaderTime      = "Foundry-Time"       // unix milliseconds
	HeaderSig       = "Foundry-Sig"        // base64url ed25519 signature

	// APIAuthWindow is how far a request's time may be from the
	// controller's clock, either way.
	APIAuthWindow = 2 * time.Minute
)

// APIAuth is the signed proof of who sent an API request.
type APIAuth struct {
	Operator  string
	RequestID string
	Time      int64
	Sig       []byte
}

var requestIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// APISigningBytes is what an operator signs: a length-prefixed encoding of
// the subject, operator, request id and time, then the body's SHA-256.
func APISigningBytes(subject string, a APIAuth, body []byte) []byte {
	sum := sha256.Sum256(body)
	b := make([]byte, 0, 96+len(subject)+len(a.Operator)+len(a.RequestID))
	b = append(b, "foundry-api\x00"...)
	b = appendString(b, subject)
	b = appendString(b, a.Operator)
	b = appendString(b, a.RequestID)
	b = binary.BigEndian.AppendUint64(b, uint64(a.Time))
	return append(b, sum[:]...)
}

// SignAPI builds the auth headers for a request to subject with body, for
// the operator whose public key is pub; sign is the key pair's Sign.
func SignAPI(subject string, body []byte, pub string, now time.Time, sign func([]byte) ([]byte, error)) (APIAuth, error) {
	a := APIAuth{Operator: pub, RequestID: NewID(), Time: now.UnixMilli()}
	sig, err := sign(APISigningBytes(subject, a, body))
	if err != nil {
		return a, fmt.Errorf("sign API request: %w", err)
	}
	a.Sig = sig
	return a, nil
}

// Headers returns the auth as NATS header values.
func (a APIAuth) Headers() map[string]string {
	return map[string]string{
		HeaderOperator:  a.Operator,
		HeaderRequestID: a.RequestID,
		HeaderTime:      strconv.FormatInt(a.Time, 10),
		HeaderSig:       base64.RawURLEncoding.EncodeToString(a.Sig),
	}
}

// ParseAPIAuth reads the auth headers through get (a header lookup). It
// checks form only; VerifyAPIAuth checks the signature and time.
func ParseAPIAuth(get func(string) string) (APIAuth, error) {
	var a APIAuth
	op, id, ts, sig := get(HeaderOperator), get(HeaderRequestID), get(HeaderTime), get(HeaderSig)
	if op == "" && id == "" && ts == "" && sig == "" {
		return a, &Error{Code: CodeUnauthenticated, Message: "API request is not signed; use the foundry CLI or client package, which sign with your operator key"}
	}
	if !nkeys.IsValidPublicUserKey(op) {
		return a, &Error{Code: CodeUnauthenticated, Message: "API request names no valid operator key; sign it with your operator credentials (--creds)"}
	}
	if !requestIDRe.MatchString(id) {
		return a, &Error{Code: CodeUnauthenticated, Message: "API request id must be 32 lowercase hex digits; use the foundry client package to sign requests"}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 19 {
		return a, &Error{Code: CodeUnauthenticated, Message: "API request time is not unix milliseconds; use the foundry client package to sign requests"}
	}
	if len(sig) > 128 {
		return a, &Error{Code: CodeUnauthenticated, Message: "API request signature is too long; use the foundry client package to sign requests"}
	}
	s, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(s) == 0 {
		return a, &Error{Code: CodeUnauthenticated, Message: "API request signature is not base64url; use the foundry client package to sign requests"}
	}
	return APIAuth{Operator: op, RequestID: id, Time: t, Sig: s}, nil
}

// VerifyAPIAuth checks that a was made by the holder of a.Operator's key
// for exactly this subject and body, within APIAuthWindow of now. It does
// not check that the key belongs to an operator, nor replays: the
// controller does both.
func VerifyAPIAuth(a APIAuth, subject string, body []byte, now time.Time) error {
	kp, err := nkeys.FromPublicKey(a.Operator)
	if err != nil {
		return &Error{Code: CodeUnauthenticated, Message: "API request names no valid operator key; sign it with your operator credentials (--creds)"}
	}
	if kp.Verify(APISigningBytes(subject, a, body), a.Sig) != nil {
		return &Error{Code: CodeUnauthenticated, Message: "API request signature does not verify; sign it with the operator key it names (--creds)"}
	}
	if n, w := now.UnixMilli(), APIAuthWindow.Milliseconds(); a.Time < n-w || a.Time > n+w {
		return &Error{Code: CodeUnauthenticated, Message: fmt.Sprintf("API request time is more than %s from the controller's clock; check clock sync", APIAuthWindow)}
	}
	return nil
}
