package messages

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

func TestVerbAllowedFailsClosed(t *testing.T) {
	cases := []struct {
		verb, role string
		want       bool
	}{
		{VerbStatus, RoleReadOnly, true},
		{VerbStatus, "", true},
		{VerbUninstall, RoleAdmin, true},
		{VerbUninstall, RoleReadOnly, false},
		{VerbTrustUpdate, RoleReadOnly, false},
		{VerbUninstall, "", false},
		{VerbUninstall, "Admin", false},
		{"some-future-verb", RoleReadOnly, false},
	}
	for _, tc := range cases {
		if got := VerbAllowed(tc.verb, tc.role); got != tc.want {
			t.Errorf("VerbAllowed(%q, %q) = %v", tc.verb, tc.role, got)
		}
	}
}

func TestEnvelopeSignatureCoversOperatorAndRole(t *testing.T) {
	key := newKey(t)
	v := NewVerifier([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, nil)
	for name, alter := range map[string]func(*Envelope){
		"role": func(e *Envelope) { e.Role = RoleAdmin },
		"op":   func(e *Envelope) { e.Operator = "admin" },
		// Moving bytes between adjacent fields must not keep the signature.
		"shift": func(e *Envelope) { e.Operator, e.Role = "viewe", "rread-only" },
	} {
		e, _ := NewEnvelope(time.Now(), time.Minute, "controller", VerbUninstall, []string{"h"}, nil)
		e.Operator, e.Role = "viewer", RoleReadOnly
		NewSigner(key).Sign(e)
		alter(e)
		if CodeOf(v.Verify(e, "h")) != CodeBadSignature {
			t.Errorf("%s: altered envelope verified", name)
		}
	}
}

func TestSetKeysReplacesTrustButKeepsReplayCache(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	v := NewVerifier([]ed25519.PublicKey{k1.Public().(ed25519.PublicKey)}, nil)
	e, _ := NewEnvelope(time.Now(), time.Minute, "c", VerbStatus, []string{"h"}, nil)
	NewSigner(k2).Sign(e)
	if CodeOf(v.Verify(e, "h")) != CodeUnknownKey {
		t.Fatal("k2 trusted before the update")
	}
	v.SetKeys([]ed25519.PublicKey{k1.Public().(ed25519.PublicKey), k2.Public().(ed25519.PublicKey)})
	if err := v.Verify(e, "h"); err != nil {
		t.Fatal(err)
	}
	v.SetKeys([]ed25519.PublicKey{k2.Public().(ed25519.PublicKey)})
	if CodeOf(v.Verify(e, "h")) != CodeReplayed {
		t.Fatal("a trust update emptied the replay cache")
	}
	old, _ := NewEnvelope(time.Now(), time.Minute, "c", VerbStatus, []string{"h"}, nil)
	NewSigner(k1).Sign(old)
	if CodeOf(v.Verify(old, "h")) != CodeUnknownKey {
		t.Fatal("removed key still trusted")
	}
	if ids := v.KeyIDs(); len(ids) != 1 || ids[0] != KeyID(k2.Public().(ed25519.PublicKey)) {
		t.Fatalf("key ids %v", ids)
	}
}

func TestDecodeTrustUpdateNamesTheProblem(t *testing.T) {
	k := EncodePublicKey(newKey(t).Public().(ed25519.PublicKey))
	many := make([]string, MaxTrustedKeys+1)
	for i := range many {
		many[i] = EncodePublicKey(newKey(t).Public().(ed25519.PublicKey))
	}
	for name, tc := range map[string]struct {
		in, want string
	}{
		"empty set": {`{"keys":[]}`, "1 to 8 keys"},
		"too many":  {`{"keys":["` + strings.Join(many, `","`) + `"]}`, "not 9"},
		"bad key":   {`{"keys":["ed25519:nope"]}`, "not a base64 ed25519"},
		"duplicate": {`{"keys":["` + k + `","` + k + `"]}`, "twice"},
		"not json":  {`[`, "not valid"},
	} {
		if _, _, err := DecodeTrustUpdate([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) || CodeOf(err) != CodeBadRequest {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if _, keys, err := DecodeTrustUpdate([]byte(`{"keys":["` + k + `"]}`)); err != nil || len(keys) != 1 {
		t.Fatalf("valid update: %v", err)
	}
}

func TestAPIAuthRoundTripAndTampering(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	now := time.Unix(1_800_000_000, 0)
	subj, body := APIHostRemove, []byte(`{"host":"web-1"}`)
	a, err := SignAPI(subj, body, pub, now, kp.Sign)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Headers()
	parsed, err := ParseAPIAuth(func(k string) string { return h[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyAPIAuth(parsed, subj, body, now.Add(APIAuthWindow)); err != nil {
		t.Fatalf("valid request at the window's edge: %v", err)
	}
	other, _ := nkeys.CreateUser()
	opub, _ := other.PublicKey()
	for name, tc := range map[string]struct {
		a     APIAuth
		subj  string
		body  string
		clock time.Time
	}{
		"other subject":   {parsed, APIHostList, string(body), now},
		"other body":      {parsed, subj, `{"host":"web-2"}`, now},
		"other operator":  {APIAuth{Operator: opub, RequestID: parsed.RequestID, Time: parsed.Time, Sig: parsed.Sig}, subj, string(body), now},
		"other id":        {APIAuth{Operator: pub, RequestID: NewID(), Time: parsed.Time, Sig: parsed.Sig}, subj, string(body), now},
		"other time":      {APIAuth{Operator: pub, RequestID: parsed.RequestID, Time: parsed.Time + 1, Sig: parsed.Sig}, subj, string(body), now},
		"too late":        {parsed, subj, string(body), now.Add(APIAuthWindow + time.Millisecond)},
		"from the future": {parsed, subj, string(body), now.Add(-APIAuthWindow - time.Millisecond)},
	} {
		if err := VerifyAPIAuth(tc.a, tc.subj, []byte(tc.body), tc.clock); CodeOf(err) != CodeUnauthenticated {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, mut := range map[string]func(map[string]string){
		"none":       func(h map[string]string) { clear(h) },
		"seed as op": func(h map[string]string) { s, _ := kp.Seed(); h[HeaderOperator] = string(s) },
		"short id":   func(h map[string]string) { h[HeaderRequestID] = "abc" },
		"bad time":   func(h map[string]string) { h[HeaderTime] = "yesterday" },
		"bad sig":    func(h map[string]string) { h[HeaderSig] = "***" },
		"huge sig":   func(h map[string]string) { h[HeaderSig] = strings.Repeat("A", 4096) },
	} {
		hh := a.Headers()
		mut(hh)
		if _, err := ParseAPIAuth(func(k string) string { return hh[k] }); CodeOf(err) != CodeUnauthenticated {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAuditSubjects(t *testing.T) {
	if s, err := AuditSubject(AuditSourceCommand, "bob"); err != nil || s != "foundry.audit.cmd.bob" {
		t.Fatalf("%q %v", s, err)
	}
	for _, op := range []string{SystemOperator, UnknownOperator, NoOperator} {
		if _, err := AuditSubject(AuditSourceAPI, op); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
	for _, bad := range [][2]string{{"api", "Bob"}, {"api", "a.b"}, {"api", "*"}, {"a.b", "bob"}, {"", "bob"}, {"api", ""}} {
		if _, err := AuditSubject(bad[0], bad[1]); err == nil {
			t.Errorf("AuditSubject(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if f, _ := AuditFilter(""); f != "foundry.audit.*.*" {
		t.Fatal(f)
	}
	if _, err := AuditFilter(">"); err == nil {
		t.Fatal("wildcard operator accepted")
	}
}
