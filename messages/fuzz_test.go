package messages

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
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
	b, _ := json.Marshal(Heartbeat{V: 1, Kind: KindRegister, Instance: "0123456789abcdef", Started: 1, Seq: 2, Facts: Facts{Hostname: "h"}})
	f.Add(b)
	f.Add([]byte(`{"v":1,"kind":"goodbye","facts":{"cpus":-1}}`))
	f.Add([]byte(`{"v":1,"kind":"goodbye","instance":"../x","started":-1,"seq":18446744073709551615}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHeartbeat(data)
		if err == nil && ValidInstance(h.Instance) != nil {
			t.Fatalf("accepted instance %q", h.Instance)
		}
		_ = h.Position().Before(Position{Instance: "a", Seq: 1})
	})
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
	b, _ := json.Marshal(Event{V: 1, Host: "h", Type: EventHostOnline, Fields: map[string]string{"a": "b"}, Instance: "00ff", Seq: 7})
	f.Add(b)
	f.Add([]byte(`{"v":1,"instance":"ZZZZ","seq":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvent(data)
		if err == nil && ValidInstance(e.Instance) != nil {
			t.Fatalf("accepted instance %q", e.Instance)
		}
	})
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

func FuzzDecodeTrustUpdate(f *testing.F) {
	k := EncodePublicKey(newKey(f).Public().(ed25519.PublicKey))
	b, _ := json.Marshal(TrustUpdate{Keys: []string{k}})
	f.Add(b)
	f.Add([]byte(`{"keys":["ed25519:AAAA","ed25519:AAAA"]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, keys, err := DecodeTrustUpdate(data)
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys) > MaxTrustedKeys || len(keys) != len(u.Keys) {
			t.Fatalf("accepted %d keys from %d", len(keys), len(u.Keys))
		}
		for _, k := range keys {
			if len(k) != ed25519.PublicKeySize {
				t.Fatalf("accepted a %d-byte key", len(k))
			}
		}
	})
}

func FuzzDecodeAuditRecord(f *testing.F) {
	b, _ := json.Marshal(AuditRecord{V: 1, Source: AuditSourceCommand, Operator: "admin", Hosts: []AuditHost{{Host: "h", Outcome: OutcomeMissing}}})
	f.Add(b)
	f.Add([]byte(`{"v":1,"hosts":[{},{},null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeAuditRecord(data)
		if err == nil {
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("accepted record does not re-encode: %v", err)
			}
		}
	})
}

// FuzzAPIAuth feeds arbitrary header values to the API request
// authentication: parsing must never panic, and nothing but a real
// signature over this subject and body may verify.
func FuzzAPIAuth(f *testing.F) {
	// Everything is deterministic, because fuzz workers are separate
	// processes that rebuild this setup and must agree on what is genuine.
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, []byte(strings.Repeat("k", 32)))
	if err != nil {
		f.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	now := time.Unix(1_800_000_000, 0)
	a := APIAuth{Operator: pub, RequestID: strings.Repeat("ab", 16), Time: now.UnixMilli()}
	a.Sig, _ = kp.Sign(APISigningBytes("foundry.api.v1.host.list", a, []byte(`{}`)))
	h := a.Headers()
	f.Add(h[HeaderOperator], h[HeaderRequestID], h[HeaderTime], h[HeaderSig], []byte(`{}`))
	f.Add("U", "x", "-1", "!!", []byte(nil))
	f.Add(pub, strings.Repeat("a", 32), "9223372036854775807", h[HeaderSig], []byte(`{}`))
	f.Fuzz(func(t *testing.T, op, id, ts, sig string, body []byte) {
		hdr := map[string]string{HeaderOperator: op, HeaderRequestID: id, HeaderTime: ts, HeaderSig: sig}
		got, err := ParseAPIAuth(func(k string) string { return hdr[k] })
		if err != nil {
			if CodeOf(err) != CodeUnauthenticated {
				t.Fatalf("parse error with code %s", CodeOf(err))
			}
			return
		}
		err = VerifyAPIAuth(got, "foundry.api.v1.host.list", body, now)
		// Genuine means the same values as signed, whatever their text
		// form (a leading zero, base64 slack bits): replay protection keys
		// on the parsed operator and request id, not on the text.
		genuine := got.Operator == a.Operator && got.RequestID == a.RequestID && got.Time == a.Time &&
			bytes.Equal(got.Sig, a.Sig) && string(body) == `{}`
		if err == nil && !genuine {
			t.Fatalf("a request that was not signed verified: %q %q %q %q %q", op, id, ts, sig, body)
		}
	})
}

func FuzzDecodeNewAPIRequests(f *testing.F) {
	f.Add([]byte(`{"name":"bob","role":"read-only","public_key":"UABC"}`))
	f.Add([]byte(`{"timeout_ms":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := DecodeAPI[OperatorCreateRequest](data); err == nil {
			_ = ValidOperatorName(r.Name)
			_ = ValidRole(r.Role)
		}
		_, _ = DecodeAPI[OperatorRevokeRequest](data)
		_, _ = DecodeAPI[RotateSigningKeyRequest](data)
		_, _ = DecodeAPI[APIResponse[OperatorListResult]](data)
		_, _ = DecodeAPI[APIResponse[RotateSigningKeyResult]](data)
	})
}

// FuzzDecodeServiceSpec: an accepted spec never names a path outside the
// fixed layout and never carries a line break into the unit.
func FuzzDecodeServiceSpec(f *testing.F) {
	good := ServiceSpec{Component: "openbao", Version: "2.1.0", Args: []string{"server", "-config=/x"},
		Artifact: ArtifactRef{Component: "openbao", Version: "2.1.0", File: "bao", Size: 10, SHA256: strings.Repeat("ab", 32), KeyID: "k", Sig: []byte("s")},
		Files:    []ServiceFile{{Name: "config.hcl", Content: "x"}}, Health: ServiceHealth{URL: "http://127.0.0.1:8200/"}}
	b, _ := json.Marshal(good)
	f.Add(b)
	f.Add([]byte(`{"component":"../etc","version":"1"}`))
	k3s := good
	k3s.Component, k3s.Artifact.Component = K3sComponent, K3sComponent
	k3s.Args = []string{"server", "--cluster-init"}
	k3s.Files = []ServiceFile{{Name: "token", Content: "t", Secret: true}}
	k3s.Health = ServiceHealth{URL: "https://127.0.0.1:6443/readyz", CAFile: K3sDataDir + "/server/tls/server-ca.crt"}
	b, _ = json.Marshal(k3s)
	f.Add(b)
	f.Add([]byte(`{"component":"ab","version":"..","artifact":{"component":"ab","version":".."}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeServiceSpec(data)
		if err != nil {
			return
		}
		for _, p := range []string{s.Component, s.Version, s.Artifact.File} {
			if strings.ContainsAny(p, "/\n\x00") || strings.HasPrefix(p, ".") || p == "" {
				t.Fatalf("accepted path element %q", p)
			}
		}
		for _, fl := range s.Files {
			if strings.ContainsAny(fl.Name, "/\n\x00") || strings.HasPrefix(fl.Name, ".") {
				t.Fatalf("accepted file name %q", fl.Name)
			}
			if s.Component == K3sComponent && !slices.Contains(K3sFiles, fl.Name) {
				t.Fatalf("accepted k3s file %q", fl.Name)
			}
		}
		if s.Component == K3sComponent && (len(s.Args) == 0 || (s.Args[0] != "server" && s.Args[0] != "agent")) {
			t.Fatalf("accepted k3s arguments %q", s.Args)
		}
		if ca := s.Health.CAFile; ca != "" && (!strings.HasPrefix(ca, "/") || strings.Contains(ca, "..") ||
			strings.ContainsAny(ca, "\n\x00") || !strings.HasPrefix(s.Health.URL, "https://")) {
			t.Fatalf("accepted health CA file %q for %q", ca, s.Health.URL)
		}
		for _, a := range append(s.Args, s.Description) {
			if strings.ContainsAny(a, "\n\r\x00") {
				t.Fatalf("accepted a line break in %q", a)
			}
		}
	})
}

func FuzzDecodeServiceQuery(f *testing.F) {
	f.Add([]byte(`{"component":"zot","purge":true}`))
	f.Add([]byte(`{"component":"a/b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := DecodeServiceQuery(data)
		if err == nil && (strings.ContainsAny(q.Component, "/.\n") || q.Component == "") {
			t.Fatalf("accepted component %q", q.Component)
		}
	})
}

// FuzzDecodeK3sKubeconfig: an accepted request always names a 32-byte key
// (anything else would make the agent seal to garbage or panic), and an
// accepted reply is at least a sealed box's overhead.
func FuzzDecodeK3sKubeconfig(f *testing.F) {
	f.Add([]byte(`{"recipient":"` + strings.Repeat("A", 43) + `="}`))
	f.Add([]byte(`{"recipient":"AAAA"}`))
	f.Add([]byte(`{"sealed":"` + strings.Repeat("A", 64) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := DecodeK3sKubeconfigRequest(data); err == nil {
			if len(r.Recipient) != 32 {
				t.Fatalf("accepted a %d-byte recipient", len(r.Recipient))
			}
			if _, err := SealK3sKubeconfig(r.Recipient, []byte("kubeconfig")); err != nil {
				t.Fatalf("seal to an accepted recipient: %v", err)
			}
		}
		if r, err := DecodeK3sKubeconfigReply(data); err == nil && len(r.Sealed) < 48 {
			t.Fatalf("accepted a %d-byte sealed reply", len(r.Sealed))
		}
	})
}

// FuzzEventOrigin: the CLI reads host, type and source of every event from
// its subject; anything accepted names a valid host and type.
func FuzzEventOrigin(f *testing.F) {
	f.Add("foundry.evt.web-1.cmd_refused")
	f.Add("foundry.evt.web-1.host_online")
	f.Add("foundry.evt..x")
	f.Fuzz(func(t *testing.T, subject string) {
		host, typ, source, err := EventOrigin(subject)
		if err != nil {
			return
		}
		if ValidHostID(host) != nil || ValidEventType(typ) != nil || (source != EventSourceAgent && source != EventSourceController) {
			t.Fatalf("%q accepted as %q %q %q", subject, host, typ, source)
		}
	})
}

func FuzzDecodeRekeyArgs(f *testing.F) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	b, _ := json.Marshal(RekeyArgs{Step: RekeyCommit, PublicKey: pub})
	f.Add(b)
	f.Add([]byte(`{"step":"prepare"}`))
	f.Add([]byte(`{"step":"commit","public_key":"UAAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRekeyArgs(data)
		if err != nil {
			return
		}
		if r.Step == RekeyCommit && !nkeys.IsValidPublicUserKey(r.PublicKey) {
			t.Fatalf("accepted a commit without a valid key: %+v", r)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted args do not re-encode: %v", err)
		}
		if _, err := DecodeRekeyArgs(b); err != nil {
			t.Fatalf("re-encoded args refused: %v", err)
		}
	})
}

func FuzzDecodeRekeyReply(f *testing.F) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	b, _ := json.Marshal(RekeyReply{PublicKey: pub})
	f.Add(b)
	f.Add([]byte(`{"public_key":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRekeyReply(data)
		if err != nil {
			return
		}
		if !nkeys.IsValidPublicUserKey(r.PublicKey) {
			t.Fatalf("accepted a reply without a valid key: %+v", r)
		}
	})
}

func FuzzDecodeArtifactChunkRequest(f *testing.F) {
	b, _ := json.Marshal(ArtifactChunkRequest{Name: "k3s/v1.31.4/k3s", After: 7, Max: 4})
	f.Add(b)
	f.Add([]byte(`{"name":"a/b","max":1}`))
	f.Add([]byte(`{"name":"../../x/y","max":99}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeArtifactChunkRequest(data)
		if err != nil {
			return
		}
		if r.Max < 1 || r.Max > MaxArtifactChunksPerRequest || strings.Count(r.Name, "/") != 2 {
			t.Fatalf("accepted an out-of-bounds request: %+v", r)
		}
		b, _ := json.Marshal(r)
		if _, err := DecodeArtifactChunkRequest(b); err != nil {
			t.Fatalf("re-encoded request refused: %v", err)
		}
	})
}

func FuzzDecodeStreamReadRequest(f *testing.F) {
	b, _ := json.Marshal(StreamReadRequest{Stream: StreamEvents, Filter: EventPrefix + ".web-1.*", After: 7, Max: 10, WaitMs: 5000})
	f.Add(b)
	f.Add([]byte(`{"stream":"audit","filter":"foundry.audit.*.alice","since_ms":1}`))
	f.Add([]byte(`{"stream":"events","filter":"foundry.evt.>"}`))
	f.Add([]byte(`{"stream":"audit","filter":"foundry.evt.*.*"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeStreamReadRequest(data)
		if err != nil {
			return
		}
		prefix := map[string]string{StreamEvents: EventPrefix + ".", StreamAudit: AuditPrefix + "."}[r.Stream]
		if prefix == "" || !strings.HasPrefix(r.Filter, prefix) || strings.Contains(r.Filter, ">") || strings.Count(r.Filter, ".") != strings.Count(prefix, ".")+1 ||
			r.Max < 0 || r.Max > MaxStreamReadRecords || r.WaitMs < 0 || r.WaitMs > MaxStreamReadWait.Milliseconds() || r.SinceMs < 0 {
			t.Fatalf("accepted an out-of-bounds request: %+v", r)
		}
		b, _ := json.Marshal(r)
		if _, err := DecodeStreamReadRequest(b); err != nil {
			t.Fatalf("re-encoded request refused: %v", err)
		}
	})
}

func FuzzDecodeArtifactUploadRequest(f *testing.F) {
	b, _ := EncodeArtifactUploadRequest(ArtifactUploadRequest{Name: "k3s/v1.31.4/k3s", Upload: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", Part: 3, Chunk: []byte("bytes\n{}")})
	f.Add(b)
	b, _ = EncodeArtifactUploadRequest(ArtifactUploadRequest{Name: "k3s/v1.31.4/k3s", Upload: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", Done: true, Size: 5,
		SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
	f.Add(b)
	f.Add([]byte(`{"name":"a/b/c","upload":"0123456789abcdef","abort":true}` + "\n"))
	f.Add([]byte(`{"name":"a/b/c","upload":"0123456789abcdef","abort":true}`))
	f.Add([]byte(`{"name":"a/b/c","upload":"0123456789abcdef.>","part":-1}` + "\nx"))
	f.Add([]byte(`{"name":"a/b/c","upload":"0123456789abcdef","done":true,"abort":true,"size":-1}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeArtifactUploadRequest(data)
		if err != nil {
			return
		}
		steps := 0
		for _, s := range []bool{len(r.Chunk) > 0, r.Done, r.Abort} {
			if s {
				steps++
			}
		}
		if strings.Count(r.Name, "/") != 2 || len(r.Upload) < 16 || len(r.Upload) > 64 || strings.ContainsAny(r.Upload, ".*> ") ||
			len(r.Chunk) > ArtifactUploadChunkBytes || r.Part < 0 || r.Part >= MaxArtifactUploadParts || steps != 1 ||
			(r.Done && (r.Size < 0 || r.Size > MaxArtifactBytes || len(r.SHA256) != 64)) {
			t.Fatalf("accepted an out-of-bounds step: %+v", r)
		}
		b, err := EncodeArtifactUploadRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeArtifactUploadRequest(b)
		if err != nil {
			t.Fatalf("re-encoded step refused: %v", err)
		}
		if !bytes.Equal(back.Chunk, r.Chunk) || back.Part != r.Part || back.Name != r.Name {
			t.Fatalf("re-encoded step changed: %+v, was %+v", back, r)
		}
	})
}

func FuzzDecodeStreamReadResult(f *testing.F) {
	b, _ := json.Marshal(APIResponse[StreamReadResult]{Result: StreamReadResult{Records: []StreamRecord{{Seq: 1, Subject: EventPrefix + ".web-1.agent_started", Data: []byte(`{}`)}}, Next: 1, End: true}})
	f.Add(b)
	f.Add([]byte(`{"result":{"records":[{"seq":1,"subject":"x","data":"!!"}],"next":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeAPI[APIResponse[StreamReadResult]](data)
		if err != nil {
			return
		}
		b, _ := json.Marshal(r)
		if _, err := DecodeAPI[APIResponse[StreamReadResult]](b); err != nil {
			t.Fatalf("re-encoded answer refused: %v", err)
		}
	})
}

// FuzzDecodeStackReport: an accepted report stays within its bounds (the
// controller stores it as it is and the web view shows it as it is), and
// survives a re-encode.
func FuzzDecodeStackReport(f *testing.F) {
	b, _ := json.Marshal(StackReport{Components: []ClusterComponentStatus{
		{Component: "grafana", Cluster: "prod", Release: "grafana", Namespace: "monitoring", ChartVersion: "12.11.1", Status: "deployed", Healthy: true, Workloads: 1, WorkloadsReady: 1, CheckedAt: 1},
		{Component: "k3s", Status: "readyz ok", Nodes: []ClusterNodeStatus{{Name: "node1", Ready: true}}, CheckedAt: 1},
	}})
	f.Add(b)
	f.Add([]byte(`{"components":[{"component":"a","checked_at":1}]}`))
	f.Add([]byte(`{"components":[{"component":"grafana","status":"x\u0000","checked_at":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeStackReport(data)
		if err != nil {
			return
		}
		if len(r.Components) == 0 || len(r.Components) > MaxStackReportComponents {
			t.Fatalf("accepted %d components", len(r.Components))
		}
		for _, c := range r.Components {
			if ValidComponent(c.Component) != nil || c.CheckedAt <= 0 || len(c.Nodes) > MaxStackReportNodes ||
				!plainText(c.Status) || !plainText(c.Release) || !plainText(c.Namespace) {
				t.Fatalf("accepted an out-of-bounds component: %+v", c)
			}
		}
		b, _ := json.Marshal(r)
		if _, err := DecodeStackReport(b); err != nil {
			t.Fatalf("re-encoded report refused: %v", err)
		}
	})
}
