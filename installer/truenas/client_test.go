package truenas_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	double "github.com/foundry-fleet/foundry/e2e/doubles/truenas"
	"github.com/foundry-fleet/foundry/installer/truenas"
)

const (
	rwKey = "1-readwritekey"
	roKey = "2-readonlykey"
)

// startDouble serves the TrueNAS test double over TLS and returns it, its
// URL and a CA file that trusts its certificate.
func startDouble(t *testing.T) (*double.Server, string, string) {
	t.Helper()
	s := double.Sample()
	s.AddKey(rwKey, double.ReadWrite)
	s.AddKey(roKey, double.ReadOnly)
	ts := httptest.NewTLSServer(s.Handler())
	t.Cleanup(ts.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, ts.URL, ca
}

func newClient(t *testing.T, url, key, ca string) *truenas.Client {
	t.Helper()
	c, err := truenas.New(truenas.Options{URL: url, APIKey: key, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func statuses(steps []truenas.Step) string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name+"="+s.Status)
	}
	return strings.Join(out, " ")
}

func TestListAgainstTrueNASDouble(t *testing.T) {
	_, url, ca := startDouble(t)
	c := newClient(t, url, rwKey, ca)
	ctx := context.Background()
	pools, err := c.Pools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 1 || pools[0].Name != "tank" || pools[0].Size != 1<<40 || pools[0].Free != 1<<40-100<<30 {
		t.Fatalf("pools = %+v", pools)
	}
	ds, err := c.Datasets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]truenas.Dataset{}
	for _, d := range ds {
		byName[d.Name] = d
	}
	zv := byName["tank/vm-disk"]
	if zv.Type != truenas.TypeVolume || zv.Volsize.Bytes() != 20<<30 || zv.Pool != "tank" {
		t.Fatalf("zvol = %+v", zv)
	}
	if m := byName["tank/media"]; m.Type != truenas.TypeFilesystem || m.Used.Bytes() != 60<<30 || m.Mountpoint != "/mnt/tank/media" {
		t.Fatalf("tank/media = %+v", m)
	}
	shares, err := c.NFSShares(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(shares) != 1 || shares[0].Path != "/mnt/tank/media" || !slices.Equal(shares[0].Networks, []string{"10.77.0.0/24"}) {
		t.Fatalf("shares = %+v", shares)
	}
}

func TestCheckAgainstTrueNASDoublePasses(t *testing.T) {
	s, url, ca := startDouble(t)
	before := s.Datasets()
	steps := newClient(t, url, rwKey, ca).Check(context.Background(), truenas.CheckOptions{Permissions: true})
	if got := statuses(steps); got != "reachability=ok tls=ok authentication=ok permissions=ok" {
		t.Fatalf("steps: %s (%+v)", got, steps)
	}
	if s.Writes() != 2 {
		t.Fatalf("writes = %d, want a create and a delete", s.Writes())
	}
	if after := s.Datasets(); !slices.Equal(before, after) {
		t.Fatalf("datasets changed: %v -> %v (the throw-away dataset was left behind)", before, after)
	}
}

func TestCheckWrongKeyFailsAtAuthentication(t *testing.T) {
	_, url, ca := startDouble(t)
	steps := newClient(t, url, "3-wrong", ca).Check(context.Background(), truenas.CheckOptions{Permissions: true})
	if got := statuses(steps); got != "reachability=ok tls=ok authentication=fail permissions=not run" {
		t.Fatalf("steps: %s", got)
	}
	if !strings.Contains(steps[2].Reason, "refused the API key") {
		t.Fatalf("reason = %q", steps[2].Reason)
	}
	_, err := newClient(t, url, "3-wrong", ca).Pools(context.Background())
	if !errors.Is(err, truenas.ErrUnauthorized) {
		t.Fatalf("Pools with a wrong key: %v, want ErrUnauthorized", err)
	}
}

func TestCheckReadOnlyKeyFailsAtPermissions(t *testing.T) {
	s, url, ca := startDouble(t)
	before := s.Datasets()
	steps := newClient(t, url, roKey, ca).Check(context.Background(), truenas.CheckOptions{Permissions: true})
	if got := statuses(steps); got != "reachability=ok tls=ok authentication=ok permissions=fail" {
		t.Fatalf("steps: %s", got)
	}
	if !strings.Contains(steps[3].Reason, "cannot create datasets under tank (HTTP 403)") {
		t.Fatalf("reason = %q", steps[3].Reason)
	}
	if after := s.Datasets(); !slices.Equal(before, after) {
		t.Fatalf("a read-only key changed datasets: %v -> %v", before, after)
	}
}

func TestCheckUntrustedCertificateFailsAtTLS(t *testing.T) {
	_, url, _ := startDouble(t)
	// No CA file: the system roots do not trust httptest's certificate,
	// as they would not trust TrueNAS's self-signed one.
	steps := newClient(t, url, rwKey, "").Check(context.Background(), truenas.CheckOptions{Permissions: true})
	if got := statuses(steps); got != "reachability=ok tls=fail authentication=not run permissions=not run" {
		t.Fatalf("steps: %s", got)
	}
	if !strings.Contains(steps[1].Reason, "not trusted") || !strings.Contains(steps[1].Reason, "--ca-file") {
		t.Fatalf("reason = %q", steps[1].Reason)
	}
}

func TestCheckNothingListeningFailsAtReachability(t *testing.T) {
	ts := httptest.NewServer(nil)
	url := ts.URL
	ts.Close()
	steps := newClient(t, url, rwKey, "").Check(context.Background(), truenas.CheckOptions{})
	if got := statuses(steps); got != "reachability=fail tls=not run authentication=not run permissions=skipped" {
		t.Fatalf("steps: %s", got)
	}
	if !strings.Contains(steps[0].Reason, "cannot connect") {
		t.Fatalf("reason = %q", steps[0].Reason)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []truenas.Options{
		{URL: "truenas.example.com", APIKey: "k"},
		{URL: "ftp://truenas", APIKey: "k"},
		{URL: "https://user:pw@truenas", APIKey: "k"},
		{URL: "https://truenas"},
		{URL: "https://truenas", APIKey: "k", CAFile: "/nonexistent/ca.pem"},
	} {
		if _, err := truenas.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
