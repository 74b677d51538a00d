package messages

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerifyRefusesEveryTamperedOrStaleCommand(t *testing.T) {
	key, rogue := newKey(t), newKey(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	signed := func(mut func(*Envelope)) *Envelope {
		e, err := NewEnvelope(now, time.Minute, "controller", VerbStatus, []string{"web-1"}, StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if mut != nil {
			mut(e)
		}
		NewSigner(key).Sign(e)
		return e
	}
	cases := []struct {
		name string
		env  *Envelope
		self string
		code string
	}{
		{"valid", signed(nil), "web-1", ""},
		{"broadcast target", signed(func(e *Envelope) { e.Targets = []string{TargetAll} }), "web-9", ""},
		{"unsigned", func() *Envelope { e := signed(nil); e.Sig = nil; return e }(), "web-1", CodeUnsigned},
		{"unknown key", func() *Envelope { e := signed(nil); NewSigner(rogue).Sign(e); return e }(), "web-1", CodeUnknownKey},
		{"rogue key claiming trusted kid", func() *Envelope {
			e := signed(nil)
			kid := e.KeyID
			NewSigner(rogue).Sign(e)
			e.KeyID = kid
			return e
		}(), "web-1", CodeBadSignature},
		{"altered payload", func() *Envelope { e := signed(nil); e.Payload = json.RawMessage(`{"x":1}`); return e }(), "web-1", CodeBadSignature},
		{"altered targets", func() *Envelope { e := signed(nil); e.Targets = []string{TargetAll}; return e }(), "web-2", CodeBadSignature},
		{"altered verb", func() *Envelope { e := signed(nil); e.Verb = "install"; return e }(), "web-1", CodeBadSignature},
		{"altered expiry", func() *Envelope { e := signed(nil); e.ExpiresAt += 1000; return e }(), "web-1", CodeBadSignature},
		{"expired", signed(func(e *Envelope) { e.IssuedAt -= 120_000; e.ExpiresAt = now.UnixMilli() - 1 }), "web-1", CodeExpired},
		{"issued in the future", signed(func(e *Envelope) { e.IssuedAt += time.Hour.Milliseconds(); e.ExpiresAt += time.Hour.Milliseconds() }), "web-1", CodeNotYetValid},
		{"validity too long", signed(func(e *Envelope) { e.ExpiresAt = e.IssuedAt + (MaxValidity + time.Second).Milliseconds() }), "web-1", CodeBadRequest},
		{"not a target", signed(nil), "web-2", CodeNotTarget},
		{"wrong version", signed(func(e *Envelope) { e.V = 2 }), "web-1", CodeUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerifier([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, clock)
			err := v.Verify(tc.env, tc.self)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused a valid command: %v", err)
				}
				return
			}
			if CodeOf(err) != tc.code {
				t.Fatalf("got %v (code %s), want code %s", err, CodeOf(err), tc.code)
			}
		})
	}
}

func TestVerifyRefusesReplayUntilExpiryThenAsExpired(t *testing.T) {
	key := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	v := NewVerifier([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, func() time.Time { return now })
	e, _ := NewEnvelope(now, time.Minute, "controller", VerbStatus, []string{"h"}, nil)
	NewSigner(key).Sign(e)
	if err := v.Verify(e, "h"); err != nil {
		t.Fatal(err)
	}
	if CodeOf(v.Verify(e, "h")) != CodeReplayed {
		t.Fatal("second delivery was not refused as a replay")
	}
	now = now.Add(2 * time.Minute) // past expiry: the cache may forget it, expiry still refuses it
	if got := CodeOf(v.Verify(e, "h")); got != CodeExpired {
		t.Fatalf("replay after expiry: code %s, want %s", got, CodeExpired)
	}
	if len(v.seen) != 0 {
		// Not pruned yet is fine only until the next prune time.
		now = now.Add(2 * time.Minute)
		e2, _ := NewEnvelope(now, time.Minute, "controller", VerbStatus, []string{"h"}, nil)
		NewSigner(key).Sign(e2)
		_ = v.Verify(e2, "h")
		if _, still := v.seen[e.ID]; still {
			t.Fatal("expired id was never pruned from the replay cache")
		}
	}
}

func TestUnsignedJunkNeverEntersReplayCache(t *testing.T) {
	key := newKey(t)
	v := NewVerifier([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, nil)
	e, _ := NewEnvelope(time.Now(), time.Minute, "x", VerbStatus, []string{"h"}, nil)
	NewSigner(newKey(t)).Sign(e)
	_ = v.Verify(e, "h")
	if len(v.seen) != 0 {
		t.Fatal("a refused command was remembered")
	}
}

func TestPublicKeyRoundTrip(t *testing.T) {
	pub := newKey(t).Public().(ed25519.PublicKey)
	got, err := ParsePublicKey(EncodePublicKey(pub))
	if err != nil || !got.Equal(pub) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "ed25519:", "ed25519:!!!", "rsa:AAAA", "ed25519:AAAA"} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	key := newKey(b)
	v := NewVerifier([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, nil)
	e, _ := NewEnvelope(time.Now(), time.Minute, "controller", VerbStatus, []string{TargetAll}, nil)
	s := NewSigner(key)
	for b.Loop() {
		e.ID = NewID()
		s.Sign(e)
		if err := v.Verify(e, "h"); err != nil {
			b.Fatal(err)
		}
	}
}

// A bounded, persisted replay cache: ids evicted for room stay refused
// through the floor, a restored state refuses what it holds, and a save
// that fails refuses the command rather than running it undurably.
func TestPersistedReplayCacheIsBoundedAndFailsClosed(t *testing.T) {
	key := newKey(t)
	pub := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	var saved ReplayState
	v := NewVerifier(pub, clock)
	v.PersistReplays(ReplayState{}, 2, func(s ReplayState) error { saved = s; return nil })
	var sent []*Envelope
	for i := range 3 {
		e, _ := NewEnvelope(now.Add(time.Duration(i)*time.Second), time.Minute, "controller", VerbStatus, []string{"h"}, nil)
		NewSigner(key).Sign(e)
		if err := v.Verify(e, "h"); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, e)
	}
	if len(saved.Seen) != 2 || saved.Floor != sent[0].IssuedAt {
		t.Fatalf("saved %+v, want 2 ids and the floor at the evicted one", saved)
	}
	restarted := NewVerifier(pub, clock)
	restarted.PersistReplays(saved, 2, func(ReplayState) error { return errors.New("disk full") })
	for i, e := range sent {
		if got := CodeOf(restarted.Verify(e, "h")); got != CodeReplayed {
			t.Errorf("command %d after restart: code %q, want %s", i, got, CodeReplayed)
		}
	}
	e, _ := NewEnvelope(now.Add(5*time.Second), time.Minute, "controller", VerbStatus, []string{"h"}, nil)
	NewSigner(key).Sign(e)
	if got := CodeOf(restarted.Verify(e, "h")); got != CodeUnavailable {
		t.Fatalf("command whose id could not be saved: code %q, want %s", got, CodeUnavailable)
	}
}

// A simulated fleet's agents share one SignatureMemo; once a signature
// is remembered, every other check must still run per agent, and a
// tampered copy of the remembered command must still be refused.
func TestSharedSignatureMemoKeepsEveryOtherCheck(t *testing.T) {
	key, rogue := newKey(t), newKey(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	memo := NewSignatureMemo()
	verifier := func() *Verifier {
		v := NewVerifier([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, clock)
		v.ShareSignatureChecks(memo)
		return v
	}
	e, err := NewEnvelope(now, time.Minute, "controller", VerbStatus, []string{TargetAll}, StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	NewSigner(key).Sign(e)
	first, second := verifier(), verifier()
	if err := first.Verify(e, "web-1"); err != nil {
		t.Fatalf("first agent refused a valid command: %v", err)
	}
	if len(memo.ok) != 1 {
		t.Fatalf("memo holds %d signatures after one valid check, want 1", len(memo.ok))
	}
	if err := second.Verify(e, "web-2"); err != nil {
		t.Fatalf("second agent refused the remembered command: %v", err)
	}
	if err := second.Verify(e, "web-2"); CodeOf(err) != CodeReplayed {
		t.Fatalf("second agent took the same command twice: %v", err)
	}

	copyOf := func(mut func(*Envelope)) *Envelope {
		c := *e
		mut(&c)
		return &c
	}
	cases := []struct {
		name string
		env  *Envelope
		code string
	}{
		{"altered payload", copyOf(func(c *Envelope) { c.Payload = json.RawMessage(`{"x":1}`) }), CodeBadSignature},
		{"altered expiry", copyOf(func(c *Envelope) { c.ExpiresAt += 1000 }), CodeBadSignature},
		{"signature cut short", copyOf(func(c *Envelope) { c.Sig = c.Sig[:len(c.Sig)-1] }), CodeBadSignature},
		{"rogue key claiming trusted kid", copyOf(func(c *Envelope) { kid := c.KeyID; NewSigner(rogue).Sign(c); c.KeyID = kid }), CodeBadSignature},
		{"expired by now", copyOf(func(c *Envelope) {}), CodeExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := verifier()
			if tc.code == CodeExpired {
				v.now = func() time.Time { return now.Add(2 * time.Minute) }
			}
			if err := v.Verify(tc.env, "web-3"); CodeOf(err) != tc.code {
				t.Fatalf("got %v (code %s), want code %s", err, CodeOf(err), tc.code)
			}
		})
	}
	if len(memo.ok) != 1 {
		t.Fatalf("memo holds %d signatures, want only the one valid", len(memo.ok))
	}
}
