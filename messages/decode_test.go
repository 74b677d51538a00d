package messages

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDecodersBoundSizeAndNameTheProblem(t *testing.T) {
	huge := []byte(`{"v":1,"id":"` + strings.Repeat("a", MaxCommandBytes) + `"}`)
	if _, err := DecodeEnvelope(huge); CodeOf(err) != CodeTooLarge {
		t.Fatalf("oversized command: %v", err)
	}
	if _, err := DecodeK3sKubeconfigRequest(huge); CodeOf(err) != CodeTooLarge {
		t.Fatalf("oversized k3s kubeconfig request: %v", err)
	}
	deep := []byte(strings.Repeat("[", 100000) + strings.Repeat("]", 100000))
	for name, fn := range map[string]func([]byte) error{
		"envelope":               func(b []byte) error { _, err := DecodeEnvelope(b); return err },
		"heartbeat":              func(b []byte) error { _, err := DecodeHeartbeat(b); return err },
		"reply":                  func(b []byte) error { _, err := DecodeReply(b); return err },
		"event":                  func(b []byte) error { _, err := DecodeEvent(b); return err },
		"api":                    func(b []byte) error { _, err := DecodeAPI[FleetStatusRequest](b); return err },
		"k3s kubeconfig request": func(b []byte) error { _, err := DecodeK3sKubeconfigRequest(b); return err },
		"k3s kubeconfig reply":   func(b []byte) error { _, err := DecodeK3sKubeconfigReply(b); return err },
	} {
		for _, in := range [][]byte{nil, []byte("garbage"), []byte{0xff, 0x00, 0x13}, []byte(`{"v":`), deep} {
			err := fn(in)
			if err == nil {
				t.Errorf("%s accepted %q", name, truncate(in))
				continue
			}
			if c := CodeOf(err); c != CodeBadRequest && c != CodeTooLarge {
				t.Errorf("%s: code %s for %q", name, c, truncate(in))
			}
		}
	}
}

func TestDecodeHeartbeatChecksKindAndVersion(t *testing.T) {
	ok, _ := json.Marshal(Heartbeat{V: Version, Kind: KindHeartbeat})
	if _, err := DecodeHeartbeat(ok); err != nil {
		t.Fatal(err)
	}
	bad, _ := json.Marshal(Heartbeat{V: Version, Kind: "party"})
	if _, err := DecodeHeartbeat(bad); err == nil {
		t.Error("unknown kind accepted")
	}
	v2, _ := json.Marshal(Heartbeat{V: 2, Kind: KindHeartbeat})
	if _, err := DecodeHeartbeat(v2); CodeOf(err) != CodeUnsupported {
		t.Errorf("version 2: %v", err)
	}
}

// TestHeartbeatCountersAreOptionalBothWays: a heartbeat from an agent that
// predates the counters decodes with none, and one with counters keeps
// them, so agents and controllers of either age understand each other
// (unknown fields are ignored).
func TestHeartbeatCountersAreOptionalBothWays(t *testing.T) {
	old := []byte(`{"v":1,"kind":"heartbeat","seq":3,"time":1,"interval_ms":1000,"facts":{"hostname":"h"}}`)
	hb, err := DecodeHeartbeat(old)
	if err != nil || hb.Counters != nil {
		t.Fatalf("old heartbeat: %v, counters %+v", err, hb.Counters)
	}
	quiet, _ := json.Marshal(Heartbeat{V: Version, Kind: KindHeartbeat})
	if strings.Contains(string(quiet), "counters") {
		t.Errorf("a heartbeat without counters says %s", quiet)
	}
	in := Heartbeat{V: Version, Kind: KindHeartbeat, Counters: &AgentCounters{CommandsSucceeded: 2, CommandsFailed: 1,
		CommandsRefused: map[string]uint64{CodeExpired: 4}, ArtifactBytes: 1 << 20}}
	b, _ := json.Marshal(in)
	got, err := DecodeHeartbeat(b)
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Counters; c == nil || c.CommandsSucceeded != 2 || c.CommandsFailed != 1 || c.CommandsRefused[CodeExpired] != 4 || c.ArtifactBytes != 1<<20 {
		t.Fatalf("counters did not survive: %s", b)
	}
}

func TestEnvelopeRoundTripKeepsSignatureValid(t *testing.T) {
	key := newKey(t)
	e, _ := NewEnvelope(time.Now(), time.Minute, "controller", VerbStatus, []string{"a", "b"}, map[string]int{"z": 1, "a": 2})
	NewSigner(key).Sign(e)
	b, _ := json.Marshal(e)
	got, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, nil)
	if err := v.Verify(got, "b"); err != nil {
		t.Fatalf("decoded envelope no longer verifies: %v", err)
	}
}

func truncate(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}
