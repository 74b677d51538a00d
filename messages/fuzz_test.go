package messages

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"
)

// The fuzz targets feed arbitrary bytes to every decoder. They must never
// panic, and anything they accept must survive a re-encode.

func FuzzDecodeEnvelope(f *testing.F) {
	key := newKey(f)
	e, _ := NewEnvelope(time.Now(), time.Minute, "c", VerbStatus, []string{"h"}, StatusRequest{})
	NewSigner(key).Sign(e)
	b, _ := json.Marshal(e)
	f.Add(b)
	f.Add([]byte(`{"v":1,"id":"x","verb":"status","to":["*"],"sig":"AAAA"}`))
	f.Add([]byte(`[[[[`))
	v := NewVerifier([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := DecodeEnvelope(data)
		if err != nil {
			return
		}
		_ = v.Verify(env, "h") // must not panic on any accepted shape
		if _, err := json.Marshal(env); err != nil {
			t.Fatalf("accepted envelope does not re-encode: %v", err)
		}
	})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	b, _ := json.Marshal(Heartbeat{V: 1, Kind: KindRegister, Facts: Facts{Hostname: "h"}})
	f.Add(b)
	f.Add([]byte(`{"v":1,"kind":"goodbye","facts":{"cpus":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = DecodeHeartbeat(data) })
}

func FuzzDecodeReply(f *testing.F) {
	b, _ := json.Marshal(Reply{V: 1, ID: "x", Host: "h", Error: &Error{Code: CodeExpired}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeReply(data)
		if err == nil && r.Payload != nil {
			_, _ = DecodeStatusReply(r.Payload)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	b, _ := json.Marshal(Event{V: 1, Host: "h", Type: EventHostOnline, Fields: map[string]string{"a": "b"}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = DecodeEvent(data) })
}

func FuzzDecodeAPI(f *testing.F) {
	f.Add([]byte(`{"hosts":["a","b"],"timeout_ms":100}`))
	f.Add([]byte(`{"host":"a","public_key":"UABC"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeAPI[FleetStatusRequest](data)
		_, _ = DecodeAPI[EnrollRequest](data)
		_, _ = DecodeAPI[APIResponse[FleetStatusResult]](data)
	})
}

func FuzzHostFromSubject(f *testing.F) {
	f.Add("foundry.hb.web-1")
	f.Add("foundry.hb..>")
	f.Fuzz(func(t *testing.T, subject string) {
		h, err := HostFromSubject(HeartbeatPrefix, subject)
		if err == nil {
			if ValidHostID(h) != nil {
				t.Fatalf("returned invalid host %q", h)
			}
			if s, _ := HeartbeatSubject(h); len(s) > len(subject) {
				t.Fatalf("host %q longer than its subject %q", h, subject)
			}
		}
	})
}
