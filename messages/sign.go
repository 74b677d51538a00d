package messages

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Validity limits. MaxValidity bounds how long a command may live, which in
// turn bounds the replay cache: an id only needs remembering until its
// command expires. ClockSkew tolerates hosts whose clocks run a little
// behind or ahead of the controller's.
const (
	MaxValidity = 15 * time.Minute
	ClockSkew   = 30 * time.Second
)

const pubKeyPrefix = "ed25519:"

// KeyID names a public key in envelopes so a verifier with several pinned
// keys knows which one to try, without trusting the name for anything else.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// EncodePublicKey is the text form of a signing key used in agent configs.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return pubKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads EncodePublicKey's form.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), pubKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("signing key %q must start with %q", s, pubKeyPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("signing key %q is not a base64 ed25519 public key", s)
	}
	return ed25519.PublicKey(b), nil
}

// Signer signs envelopes with one private key.
type Signer struct {
	key ed25519.PrivateKey
	kid string
}

// NewSigner wraps a private key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, kid: KeyID(key.Public().(ed25519.PublicKey))}
}

// PublicKey is what agents pin to trust this signer.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign sets the key id and signature of e.
func (s *Signer) Sign(e *Envelope) {
	e.KeyID = s.kid
	e.Sig = ed25519.Sign(s.key, e.SigningBytes())
}

// Verifier checks envelopes against pinned keys and remembers ids it has
// accepted until they expire. It is safe for concurrent use.
type Verifier struct {
	keys atomic.Pointer[map[string]ed25519.PublicKey]
	now  func() time.Time

	mu   sync.Mutex
	seen map[string]Seen // id -> when it was issued and expires
	next int64           // next prune time (unix ms)
	// floor refuses every command issued at or before it (unix ms) that
	// is not in seen: ids evicted to keep the cache bounded, or forgotten
	// with a lost replay file, can then never run again.
	floor int64
	// save, when set, persists the cache before a command is accepted;
	// max bounds the cache (0: unbounded, memory only).
	save func(ReplayState) error
	max  int
	// memo, when set, is shared with the other agents of a simulated
	// fleet (see SignatureMemo).
	memo *SignatureMemo
}

// Seen is one remembered command id: its issue and expiry times (unix ms).
type Seen struct {
	IssuedAt  int64 `json:"i"`
	ExpiresAt int64 `json:"e"`
}

// ReplayState is the replay cache as an agent persists it across restarts.
type ReplayState struct {
	Floor int64           `json:"floor_ms"`
	Seen  map[string]Seen `json:"seen"`
}

// NewVerifier trusts exactly the given keys. now may be nil for time.Now.
func NewVerifier(keys []ed25519.PublicKey, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{now: now, seen: make(map[string]Seen)}
	v.SetKeys(keys)
	return v
}

// SetKeys replaces the trusted key set (a trust update). The replay cache
// is kept, so a command accepted before the change cannot be replayed
// after it.
func (v *Verifier) SetKeys(keys []ed25519.PublicKey) {
	m := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		m[KeyID(k)] = k
	}
	v.keys.Store(&m)
}

// KeyIDs are the ids of the trusted keys, sorted; agents report them in
// heartbeats so the controller can bring a host that missed a key
// rotation up to date.
func (v *Verifier) KeyIDs() []string {
	m := *v.keys.Load()
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Verify accepts e for host self or returns an *Error saying why not. The
// order matters: the signature is checked before the replay cache is
// touched, so unsigned junk can never fill or poison it, and an id is
// remembered only once everything else passed.
func (v *Verifier) Verify(e *Envelope, self string) error {
	if e.V != Version {
		return &Error{Code: CodeUnsupported, Message: fmt.Sprintf("envelope version %d is not supported (want %d)", e.V, Version)}
	}
	if len(e.Sig) == 0 {
		return &Error{Code: CodeUnsigned, Message: "command is not signed"}
	}
	key, ok := (*v.keys.Load())[e.KeyID]
	if !ok {
		return &Error{Code: CodeUnknownKey, Message: fmt.Sprintf("command is signed by unknown key %q", e.KeyID)}
	}
	if !v.memo.verify(key, e.SigningBytes(), e.Sig) {
		return &Error{Code: CodeBadSignature, Message: "command signature does not verify"}
	}
	now := v.now().UnixMilli()
	if e.ExpiresAt <= now {
		return &Error{Code: CodeExpired, Message: fmt.Sprintf("command %s expired %s ago", e.ID, time.Duration(now-e.ExpiresAt)*time.Millisecond)}
	}
	if e.IssuedAt > now+ClockSkew.Milliseconds() {
		return &Error{Code: CodeNotYetValid, Message: fmt.Sprintf("command %s is issued in the future; check clock sync", e.ID)}
	}
	if e.ExpiresAt-e.IssuedAt > MaxValidity.Milliseconds() || e.ExpiresAt < e.IssuedAt {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("command %s validity exceeds %s", e.ID, MaxValidity)}
	}
	if !e.IsTarget(self) {
		return &Error{Code: CodeNotTarget, Message: fmt.Sprintf("command %s is not addressed to %s", e.ID, self)}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if now >= v.next || (v.max > 0 && len(v.seen) >= v.max) {
		v.prune(now)
		v.next = now + time.Minute.Milliseconds()
	}
	if _, dup := v.seen[e.ID]; dup {
		return &Error{Code: CodeReplayed, Message: fmt.Sprintf("command %s was already received", e.ID)}
	}
	if e.IssuedAt <= v.floor {
		return &Error{Code: CodeReplayed, Message: fmt.Sprintf("command %s was issued before this host's replay floor and may already have run; send a new one", e.ID)}
	}
	v.seen[e.ID] = Seen{IssuedAt: e.IssuedAt, ExpiresAt: e.ExpiresAt}
	v.evict()
	if v.save != nil {
		if err := v.save(v.stateLocked()); err != nil {
			// Fail closed: a command whose id could not be made durable
			// could run again after a restart. It stays in memory, so it
			// is refused as a replay until then too.
			return &Error{Code: CodeUnavailable, Message: fmt.Sprintf("command %s not run: the replay record could not be saved (%v); free the agent's state directory", e.ID, err)}
		}
	}
	return nil
}

// ShareSignatureChecks makes v take the result of an Ed25519 check from
// m when another verifier sharing m already checked the same key, message
// and signature. Only for agents that share a process (a simulated fleet).
func (v *Verifier) ShareSignatureChecks(m *SignatureMemo) { v.memo = m }

// SignatureMemo remembers (key, message, signature) triples that verified.
// A simulated fleet runs thousands of agents in one process on a few
// cores, where every agent checking the same broadcast's signature would
// measure the simulator (N checks one after another) instead of N hosts
// (one check each, at once, on their own CPUs). With a shared memo the
// first agent does the check and the rest reuse its result; everything
// else in Verify (key lookup, expiry, target, replay) still runs per
// agent. A real agent is alone in its process and has no memo.
type SignatureMemo struct {
	mu sync.Mutex
	ok map[string]struct{}
}

// maxMemo bounds a memo; it starts over when full.
const maxMemo = 4096

// NewSignatureMemo returns an empty memo.
func NewSignatureMemo() *SignatureMemo { return &SignatureMemo{ok: map[string]struct{}{}} }

// verify is ed25519.Verify, remembered in m when m is not nil. Only
// successes are kept: a bad signature is checked every time.
func (m *SignatureMemo) verify(key ed25519.PublicKey, msg, sig []byte) bool {
	if m == nil || len(key) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return ed25519.Verify(key, msg, sig) // fixed sizes keep the memo's keys unambiguous
	}
	k := string(key) + string(sig) + string(msg)
	m.mu.Lock()
	_, hit := m.ok[k]
	m.mu.Unlock()
	if hit {
		return true
	}
	if !ed25519.Verify(key, msg, sig) {
		return false
	}
	m.mu.Lock()
	if len(m.ok) >= maxMemo {
		clear(m.ok)
	}
	m.ok[k] = struct{}{}
	m.mu.Unlock()
	return true
}

// prune forgets expired ids. Must hold v.mu.
func (v *Verifier) prune(now int64) {
	for id, s := range v.seen {
		if s.ExpiresAt <= now {
			delete(v.seen, id)
		}
	}
}

// evict keeps the cache within max by forgetting the oldest-issued ids and
// raising the floor over them, so they stay refused. Must hold v.mu.
func (v *Verifier) evict() {
	for v.max > 0 && len(v.seen) > v.max {
		oldest, at := "", int64(0)
		for id, s := range v.seen {
			if oldest == "" || s.IssuedAt < at {
				oldest, at = id, s.IssuedAt
			}
		}
		delete(v.seen, oldest)
		v.floor = max(v.floor, at)
	}
}

func (v *Verifier) stateLocked() ReplayState {
	m := make(map[string]Seen, len(v.seen))
	for id, s := range v.seen {
		m[id] = s
	}
	return ReplayState{Floor: v.floor, Seen: m}
}

// PersistReplays restores a replay cache saved by an earlier run and makes
// every accepted id durable through save before Verify accepts it, with at
// most max ids kept (older ones are covered by the floor). An agent calls
// it once, before it receives commands.
func (v *Verifier) PersistReplays(st ReplayState, limit int, save func(ReplayState) error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.floor = max(v.floor, st.Floor)
	for id, s := range st.Seen {
		v.seen[id] = s
	}
	v.max, v.save = limit, save
	v.prune(v.now().UnixMilli())
	v.evict()
}

// Remember adds an id accepted before, by an earlier run of the agent,
// to the replay cache until it expires, so a command re-sent after the
// agent restarted is refused as a replay rather than run again. Its issue
// time is not known; the earliest it can have been is used (only eviction
// reads it, and the agent's replay file holds the real one).
func (v *Verifier) Remember(id string, expiresAt int64) {
	if expiresAt <= v.now().UnixMilli() {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen[id] = Seen{IssuedAt: expiresAt - MaxValidity.Milliseconds(), ExpiresAt: expiresAt}
}

// SignBytes signs an arbitrary message (an artifact's signing bytes) and
// returns the key id with the signature.
func (s *Signer) SignBytes(msg []byte) (kid string, sig []byte) {
	return s.kid, ed25519.Sign(s.key, msg)
}

// VerifyBytes checks a signature made by SignBytes against the trusted
// keys.
func (v *Verifier) VerifyBytes(kid string, msg, sig []byte) error {
	key, ok := (*v.keys.Load())[kid]
	if !ok {
		return &Error{Code: CodeUnknownKey, Message: fmt.Sprintf("signed by unknown key %q", kid)}
	}
	if !ed25519.Verify(key, msg, sig) {
		return &Error{Code: CodeBadSignature, Message: "signature does not verify"}
	}
	return nil
}
