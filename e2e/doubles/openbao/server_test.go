package openbao

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

const root = "root-token"

func start(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// do sends a raw request and decodes the JSON body (if any).
func do(t *testing.T, ts *httptest.Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func client(t *testing.T, ts *httptest.Server, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = ts.URL
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

func TestHealthUsesDocumentedStatusCodes(t *testing.T) {
	s := New()
	ts := start(t, s)

	code, body := do(t, ts, "GET", "/v1/sys/health", "", "")
	if code != 501 || body["initialized"] != false {
		t.Fatalf("uninitialised: got %d %v, want 501 initialized=false", code, body)
	}
	code, init := do(t, ts, "PUT", "/v1/sys/init", "", `{"secret_shares":1,"secret_threshold":1}`)
	if code != 200 {
		t.Fatalf("init: %d %v", code, init)
	}
	code, body = do(t, ts, "GET", "/v1/sys/health", "", "")
	if code != 503 || body["sealed"] != true {
		t.Fatalf("sealed: got %d %v, want 503 sealed=true", code, body)
	}
	code, _ = do(t, ts, "GET", "/v1/sys/health?sealedcode=299", "", "")
	if code != 299 {
		t.Fatalf("sealedcode override: got %d, want 299", code)
	}
	key := init["keys_base64"].([]any)[0].(string)
	if code, body = do(t, ts, "PUT", "/v1/sys/unseal", "", `{"key":"`+key+`"}`); code != 200 || body["sealed"] != false {
		t.Fatalf("unseal: %d %v", code, body)
	}
	code, body = do(t, ts, "GET", "/v1/sys/health", "", "")
	if code != 200 || body["sealed"] != false || body["initialized"] != true {
		t.Fatalf("active: got %d %v, want 200", code, body)
	}
	if code, _ := do(t, ts, "HEAD", "/v1/sys/health", "", ""); code != 200 {
		t.Fatalf("HEAD health: %d", code)
	}
}

func TestInitReturnsKeysAndRootToken(t *testing.T) {
	ts := start(t, New())
	code, body := do(t, ts, "PUT", "/v1/sys/init", "", `{"secret_shares":5,"secret_threshold":3}`)
	if code != 200 {
		t.Fatalf("init: %d %v", code, body)
	}
	if n := len(body["keys"].([]any)); n != 5 {
		t.Fatalf("keys: %d, want 5", n)
	}
	if n := len(body["keys_base64"].([]any)); n != 5 {
		t.Fatalf("keys_base64: %d, want 5", n)
	}
	if tok, _ := body["root_token"].(string); !strings.HasPrefix(tok, "s.") {
		t.Fatalf("root_token %q", tok)
	}
	code, body = do(t, ts, "PUT", "/v1/sys/init", "", `{"secret_shares":1,"secret_threshold":1}`)
	if code != 400 || !strings.Contains(errs(body), "already initialized") {
		t.Fatalf("second init: %d %v, want 400 already initialized", code, body)
	}
	code, body = do(t, ts, "GET", "/v1/sys/seal-status", "", "")
	if code != 200 || body["t"] != 3.0 || body["n"] != 5.0 || body["sealed"] != true {
		t.Fatalf("seal-status: %d %v", code, body)
	}
}

func TestInitRejectsBadThreshold(t *testing.T) {
	ts := start(t, New())
	for _, body := range []string{
		`{"secret_shares":3,"secret_threshold":4}`,
		`{"secret_shares":0,"secret_threshold":0}`,
		`{"secret_shares":3,"secret_threshold":1}`,
		`not json`,
	} {
		if code, _ := do(t, ts, "PUT", "/v1/sys/init", "", body); code != 400 {
			t.Errorf("init %s: got %d, want 400", body, code)
		}
	}
}

func TestUnsealNeedsThresholdOfDistinctShares(t *testing.T) {
	ts := start(t, New())
	_, init := do(t, ts, "PUT", "/v1/sys/init", "", `{"secret_shares":3,"secret_threshold":2}`)
	keys := init["keys"].([]any)
	root := init["root_token"].(string)

	_, st := do(t, ts, "PUT", "/v1/sys/unseal", "", `{"key":"`+keys[0].(string)+`"}`)
	if st["sealed"] != true || st["progress"] != 1.0 {
		t.Fatalf("after one share: %v", st)
	}
	_, st = do(t, ts, "PUT", "/v1/sys/unseal", "", `{"key":"`+keys[0].(string)+`"}`)
	if st["progress"] != 1.0 {
		t.Fatalf("a repeated share must not count: %v", st)
	}
	if code, _ := do(t, ts, "GET", "/v1/auth/token/lookup-self", root, ""); code != 503 {
		t.Fatalf("lookup-self while sealed: %d, want 503", code)
	}
	_, st = do(t, ts, "PUT", "/v1/sys/unseal", "", `{"key":"`+keys[2].(string)+`"}`)
	if st["sealed"] != false {
		t.Fatalf("after two shares: %v", st)
	}
	if code, _ := do(t, ts, "GET", "/v1/auth/token/lookup-self", root, ""); code != 200 {
		t.Fatalf("lookup-self with root token once unsealed: %d", code)
	}
}

func TestUnsealWithForeignShareFailsAndStartsOver(t *testing.T) {
	ts := start(t, New())
	_, init := do(t, ts, "PUT", "/v1/sys/init", "", `{"secret_shares":2,"secret_threshold":2}`)
	good := init["keys"].([]any)[0].(string)
	do(t, ts, "PUT", "/v1/sys/unseal", "", `{"key":"`+good+`"}`)
	code, body := do(t, ts, "PUT", "/v1/sys/unseal", "", `{"key":"`+strings.Repeat("ab", 33)+`"}`)
	if code != 400 {
		t.Fatalf("foreign share: %d %v, want 400", code, body)
	}
	_, st := do(t, ts, "GET", "/v1/sys/seal-status", "", "")
	if st["sealed"] != true || st["progress"] != 0.0 {
		t.Fatalf("after failure: %v, want sealed with progress 0", st)
	}
	if code, _ := do(t, ts, "PUT", "/v1/sys/unseal", "", `{"key":"%%%"}`); code != 400 {
		t.Fatalf("undecodable key: %d, want 400", code)
	}
}

func TestBadTokenIsPermissionDenied(t *testing.T) {
	ts := start(t, NewDev(root))
	for _, tok := range []string{"", "not-a-token"} {
		code, body := do(t, ts, "GET", "/v1/secret/data/x", tok, "")
		if code != 403 || errs(body) != "permission denied" {
			t.Errorf("token %q: got %d %v, want 403 permission denied", tok, code, body)
		}
	}
}

func TestSealedServerAnswers503(t *testing.T) {
	s := NewDev(root)
	ts := start(t, s)
	s.Seal()
	code, body := do(t, ts, "GET", "/v1/secret/data/x", root, "")
	if code != 503 || !strings.Contains(errs(body), "sealed") {
		t.Fatalf("sealed read: %d %v, want 503", code, body)
	}
	key := s.UnsealKeys()[0]
	do(t, ts, "PUT", "/v1/sys/unseal", "", `{"key":"`+key+`"}`)
	if code, _ := do(t, ts, "GET", "/v1/auth/token/lookup-self", root, ""); code != 200 {
		t.Fatalf("after unseal: %d", code)
	}
}

func TestKVRoundTripWithOfficialClient(t *testing.T) {
	ts := start(t, NewDev(root))
	c := client(t, ts, root)
	ctx := context.Background()
	kv := c.KVv2("secret")

	if _, err := kv.Get(ctx, "app/db"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("missing secret: %v, want ErrSecretNotFound", err)
	}
	s, err := kv.Put(ctx, "app/db", map[string]any{"password": "p1"})
	if err != nil || s.VersionMetadata.Version != 1 {
		t.Fatalf("put: %v %+v", err, s)
	}
	if _, err := kv.Put(ctx, "app/db", map[string]any{"password": "p2"}, api.WithCheckAndSet(1)); err != nil {
		t.Fatalf("put with cas=1: %v", err)
	}
	got, err := kv.Get(ctx, "app/db")
	if err != nil || got.Data["password"] != "p2" || got.VersionMetadata.Version != 2 {
		t.Fatalf("get: %v %+v", err, got)
	}
	old, err := kv.GetVersion(ctx, "app/db", 1)
	if err != nil || old.Data["password"] != "p1" {
		t.Fatalf("get version 1: %v %+v", err, old)
	}
	if _, err := kv.Put(ctx, "app/cache", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "other", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	l, err := kv.List(ctx, "")
	if err != nil || strings.Join(l.Keys, ",") != "app/,other" {
		t.Fatalf("list root: %v %+v", err, l)
	}
	l, err = kv.List(ctx, "app")
	if err != nil || strings.Join(l.Keys, ",") != "cache,db" {
		t.Fatalf("list app: %v %+v", err, l)
	}
	meta, err := kv.GetMetadata(ctx, "app/db")
	if err != nil || meta.CurrentVersion != 2 || len(meta.Versions) != 2 {
		t.Fatalf("metadata: %v %+v", err, meta)
	}
	if err := kv.DeleteMetadata(ctx, "app/db"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "app/db"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestListAlsoAnswersGETWithListTrue(t *testing.T) {
	ts := start(t, NewDev(root))
	do(t, ts, "POST", "/v1/secret/data/a/b", root, `{"data":{"k":"v"}}`)
	for _, m := range []struct{ method, path string }{{"LIST", "/v1/secret/metadata/a"}, {"GET", "/v1/secret/metadata/a?list=true"}} {
		code, body := do(t, ts, m.method, m.path, root, "")
		if code != 200 {
			t.Fatalf("%s %s: %d %v", m.method, m.path, code, body)
		}
		keys := body["data"].(map[string]any)["keys"].([]any)
		if len(keys) != 1 || keys[0] != "b" {
			t.Fatalf("%s %s: keys %v", m.method, m.path, keys)
		}
	}
	if code, _ := do(t, ts, "LIST", "/v1/secret/metadata/nothing", root, ""); code != 404 {
		t.Fatalf("empty list: %d, want 404", code)
	}
}

func TestCheckAndSetMismatchIsRejected(t *testing.T) {
	ts := start(t, NewDev(root))
	if code, _ := do(t, ts, "POST", "/v1/secret/data/x", root, `{"data":{"k":"1"},"options":{"cas":0}}`); code != 200 {
		t.Fatalf("create with cas=0: %d", code)
	}
	code, body := do(t, ts, "POST", "/v1/secret/data/x", root, `{"data":{"k":"2"},"options":{"cas":0}}`)
	if code != 400 || !strings.Contains(errs(body), "check-and-set") {
		t.Fatalf("stale cas: %d %v", code, body)
	}
	if code, _ := do(t, ts, "POST", "/v1/secret/data/x", root, `{"options":{}}`); code != 400 {
		t.Fatalf("write without data: %d, want 400", code)
	}
}

func TestPoliciesLimitTokensToTheirPaths(t *testing.T) {
	s := NewDev(root)
	ts := start(t, s)
	do(t, ts, "POST", "/v1/secret/data/app/db", root, `{"data":{"k":"v"}}`)
	do(t, ts, "POST", "/v1/secret/data/other/db", root, `{"data":{"k":"v"}}`)
	s.AddToken("reader", Policy{Name: "app-read", Rules: []Rule{
		{Path: "secret/data/app/*", Capabilities: []string{CapRead}},
		{Path: "secret/metadata/app", Capabilities: []string{CapList}},
		{Path: "secret/data/app/secret-*", Capabilities: []string{CapDeny}},
	}})
	cases := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/secret/data/app/db", "", 200},
		{"GET", "/v1/secret/data/other/db", "", 403},
		{"POST", "/v1/secret/data/app/db", `{"data":{"k":"w"}}`, 403},
		{"LIST", "/v1/secret/metadata/app", "", 200},
		{"LIST", "/v1/secret/metadata/other", "", 403},
		{"GET", "/v1/secret/data/app/secret-x", "", 403},
		{"GET", "/v1/auth/token/lookup-self", "", 200},
		{"POST", "/v1/sys/mounts/kv2", `{"type":"kv-v2"}`, 403},
	}
	for _, c := range cases {
		if code, body := do(t, ts, c.method, c.path, "reader", c.body); code != c.want {
			t.Errorf("%s %s: got %d %v, want %d", c.method, c.path, code, body, c.want)
		}
	}
	_, body := do(t, ts, "GET", "/v1/auth/token/lookup-self", "reader", "")
	pol := body["data"].(map[string]any)["policies"].([]any)
	if len(pol) != 2 || pol[0] != "default" || pol[1] != "app-read" {
		t.Fatalf("policies: %v", pol)
	}
	s.RevokeToken("reader")
	if code, _ := do(t, ts, "GET", "/v1/auth/token/lookup-self", "reader", ""); code != 403 {
		t.Fatalf("revoked token lookup-self: %d, want 403", code)
	}
}

func TestMountsEnableKVv2(t *testing.T) {
	ts := start(t, NewDev(root))
	if code, _ := do(t, ts, "GET", "/v1/foundry/data/x", root, ""); code != 404 {
		t.Fatalf("unmounted path: %d, want 404", code)
	}
	if code, body := do(t, ts, "POST", "/v1/sys/mounts/foundry", root, `{"type":"kv","options":{"version":"2"}}`); code != 204 {
		t.Fatalf("mount: %d %v", code, body)
	}
	if code, _ := do(t, ts, "POST", "/v1/sys/mounts/foundry", root, `{"type":"kv","options":{"version":"2"}}`); code != 400 {
		t.Fatalf("mount twice: %d, want 400", code)
	}
	if code, _ := do(t, ts, "POST", "/v1/sys/mounts/v1", root, `{"type":"kv"}`); code != 400 {
		t.Fatalf("kv v1 mount: %d, want 400 (unsupported by the double)", code)
	}
	if code, _ := do(t, ts, "POST", "/v1/foundry/data/x", root, `{"data":{"k":"v"}}`); code != 200 {
		t.Fatalf("write on new mount: %d", code)
	}
}

func TestLookupSelfDescribesToken(t *testing.T) {
	ts := start(t, NewDev(root))
	s, err := client(t, ts, root).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := s.TokenPolicies()
	if len(pol) != 1 || pol[0] != "root" {
		t.Fatalf("policies %v", pol)
	}
	if id, _ := s.TokenID(); id != root {
		t.Fatalf("id %q", id)
	}
}

func TestServeStopsWhenContextIsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewDev(root).Serve(ctx, "127.0.0.1:0"); err != nil {
		t.Fatalf("Serve after cancel: %v, want nil (cancellation is not an error)", err)
	}
}

func errs(body map[string]any) string {
	list, _ := body["errors"].([]any)
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i], _ = e.(string)
	}
	return strings.Join(parts, "; ")
}

func TestConcurrentClientsAreSerialised(t *testing.T) {
	ts := start(t, NewDev(root))
	c := client(t, ts, root)
	kv := c.KVv2("secret")
	ctx := context.Background()
	const n = 16
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, err := kv.Put(ctx, "shared", map[string]any{"writer": i})
			if err == nil {
				_, err = kv.Get(ctx, "shared")
			}
			errc <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	meta, err := kv.GetMetadata(ctx, "shared")
	if err != nil || meta.CurrentVersion != n {
		t.Fatalf("versions %+v %v, want %d (one per write)", meta, err, n)
	}
}
