package truenas

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func startTLS(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s := Sample()
	s.AddKey("rw", ReadWrite)
	s.AddKey("ro", ReadOnly)
	ts := httptest.NewTLSServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

func call(t *testing.T, ts *httptest.Server, method, path, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
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
	return resp.StatusCode, raw
}

func TestTrueNASDoubleRefusesMissingAndWrongKeysWith401(t *testing.T) {
	_, ts := startTLS(t)
	for _, key := range []string{"", "wrong"} {
		code, body := call(t, ts, "GET", "/api/v2.0/system/info", key, "")
		if code != 401 || string(body) != "401: Unauthorized" {
			t.Errorf("key %q: %d %q", key, code, body)
		}
	}
}

func TestTrueNASDoubleDatasetShapes(t *testing.T) {
	_, ts := startTLS(t)
	code, body := call(t, ts, "GET", "/api/v2.0/pool/dataset", "ro", "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var ds []map[string]any
	if err := json.Unmarshal(body, &ds); err != nil {
		t.Fatal(err)
	}
	var zvol, root map[string]any
	for _, d := range ds {
		switch d["id"] {
		case "tank/vm-disk":
			zvol = d
		case "tank":
			root = d
		}
	}
	if zvol["type"] != "VOLUME" || zvol["pool"] != "tank" || zvol["mountpoint"] != nil {
		t.Fatalf("zvol = %v", zvol)
	}
	vs := zvol["volsize"].(map[string]any)
	if vs["rawvalue"] != "21474836480" || vs["parsed"].(float64) != 21474836480 || vs["value"] != "20.0G" {
		t.Fatalf("volsize = %v", vs)
	}
	if kids := root["children"].([]any); len(kids) != 3 {
		t.Fatalf("tank's children = %v", kids)
	}
}

func TestTrueNASDoubleReadOnlyKeyGets403OnWrites(t *testing.T) {
	s, ts := startTLS(t)
	code, body := call(t, ts, "POST", "/api/v2.0/pool/dataset", "ro", `{"name":"tank/x"}`)
	if code != 403 || !strings.Contains(string(body), `"Not authorized"`) {
		t.Fatalf("create with a read-only key: %d %s", code, body)
	}
	code, _ = call(t, ts, "DELETE", "/api/v2.0/pool/dataset/id/tank%2Fmedia", "ro", "")
	if code != 403 || s.Writes() != 0 {
		t.Fatalf("delete with a read-only key: %d, writes %d", code, s.Writes())
	}
}

func TestTrueNASDoubleCreateAndDeleteDataset(t *testing.T) {
	s, ts := startTLS(t)
	code, body := call(t, ts, "POST", "/api/v2.0/pool/dataset", "rw", `{"name":"tank/foundry/pv1","type":"FILESYSTEM"}`)
	if code != 200 || !strings.Contains(string(body), `"mountpoint":"/mnt/tank/foundry/pv1"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	code, body = call(t, ts, "POST", "/api/v2.0/pool/dataset", "rw", `{"name":"tank/foundry/pv1"}`)
	if code != 422 || !strings.Contains(string(body), `"pool_dataset_create.name"`) || !strings.Contains(string(body), "already exists") {
		t.Fatalf("create twice: %d %s", code, body)
	}
	code, body = call(t, ts, "POST", "/api/v2.0/pool/dataset", "rw", `{"name":"tank/nope/pv1"}`)
	if code != 422 || !strings.Contains(string(body), "Parent dataset tank/nope does not exist") {
		t.Fatalf("create without parent: %d %s", code, body)
	}
	code, body = call(t, ts, "DELETE", "/api/v2.0/pool/dataset/id/tank%2Ffoundry", "rw", "")
	if code != 422 || !strings.Contains(string(body), "has children") {
		t.Fatalf("delete a parent: %d %s", code, body)
	}
	code, body = call(t, ts, "DELETE", "/api/v2.0/pool/dataset/id/tank%2Ffoundry%2Fpv1", "rw", "")
	if code != 200 || strings.TrimSpace(string(body)) != "true" {
		t.Fatalf("delete: %d %s", code, body)
	}
	for _, n := range s.Datasets() {
		if n == "tank/foundry/pv1" {
			t.Fatal("dataset still listed after delete")
		}
	}
	if s.Writes() != 2 {
		t.Fatalf("writes = %d", s.Writes())
	}
}

func TestTrueNASDoubleUnknownRouteIs404(t *testing.T) {
	_, ts := startTLS(t)
	if code, _ := call(t, ts, "GET", "/api/v2.0/disk", "rw", ""); code != 404 {
		t.Fatalf("GET /disk = %d", code)
	}
}
