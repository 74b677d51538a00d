package helm_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"golang.org/x/crypto/bcrypt"

	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
)

// startRegistry runs the CNCF distribution registry in-process on
// loopback, over plain HTTP, with in-memory storage and, when user is
// set, htpasswd basic auth.
func startRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := &configuration.Configuration{}
	cfg.HTTP.Addr = addr
	cfg.HTTP.DrainTimeout = time.Second
	cfg.Log.Level = "error"
	cfg.Log.AccessLog.Disabled = true
	cfg.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htp := filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(htp, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "test", "path": htp}}
	}
	reg, err := registry.NewRegistry(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = reg.ListenAndServe() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry on %s not up: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a listener that is starting; bounded by the deadline
	}
}

func TestPushChartAndPullBack(t *testing.T) {
	ctx := context.Background()
	tgz := chartstest.Archive(t, chartstest.Files()["external-dns"])
	reg := helm.Registry{Host: startRegistry(t, "", ""), PlainHTTP: true}
	ref, digest, err := helm.PushChart(ctx, reg, tgz, "external-dns", "1.21.1")
	if err != nil {
		t.Fatal(err)
	}
	if ref != "oci://"+reg.Host+"/charts/external-dns:1.21.1" || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("pushed %s %s", ref, digest)
	}
	data, pulled, err := helm.PullChart(ctx, reg, "external-dns", "1.21.1")
	if err != nil {
		t.Fatal(err)
	}
	if pulled != digest || string(data) != string(tgz) {
		t.Errorf("pulled digest %s (pushed %s), %d bytes (pushed %d)", pulled, digest, len(data), len(tgz))
	}
	if _, _, err := helm.PullChart(ctx, reg, "grafana", "12.11.1"); err == nil || !strings.Contains(err.Error(), "foundry artifact import grafana 12.11.1") {
		t.Errorf("pull of a chart never pushed: %v, want the import command", err)
	}
}

func TestPushChartRefusesAMislabelledArchive(t *testing.T) {
	tgz := chartstest.Archive(t, chartstest.Files()["grafana"])
	reg := helm.Registry{Host: "127.0.0.1:1", PlainHTTP: true} // never reached
	if _, _, err := helm.PushChart(context.Background(), reg, tgz, "grafana", "12.0.0"); err == nil || !strings.Contains(err.Error(), "holds grafana 12.11.1, not 12.0.0") {
		t.Errorf("version mismatch: %v", err)
	}
	if _, _, err := helm.PushChart(context.Background(), reg, tgz, "loki", ""); err == nil || !strings.Contains(err.Error(), `holds chart "grafana", not "loki"`) {
		t.Errorf("name mismatch: %v", err)
	}
}

func TestPushChartWithBasicAuth(t *testing.T) {
	ctx := context.Background()
	tgz := chartstest.Archive(t, chartstest.Files()["external-dns"])
	host := startRegistry(t, "foundry", "s3cret-registry")
	if _, _, err := helm.PushChart(ctx, helm.Registry{Host: host, PlainHTTP: true}, tgz, "external-dns", ""); err == nil {
		t.Error("anonymous push to an htpasswd registry succeeded")
	}
	reg := helm.Registry{Host: host, PlainHTTP: true, Username: "foundry", Password: "s3cret-registry"}
	if _, _, err := helm.PushChart(ctx, reg, tgz, "external-dns", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := helm.PullChart(ctx, reg, "external-dns", "1.21.1"); err != nil {
		t.Fatal(err)
	}
}
