package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/pki"
)

func TestPlanCluster(t *testing.T) {
	base := func() Options {
		return Options{Listen: "127.0.0.1:4222", Advertise: []string{"127.0.0.1", "ctl-a.example", "10.0.0.1"}}
	}
	o := base()
	if p, err := planCluster(&o); err != nil || p != nil || o.Replicas != 1 || o.Name != "foundry-controller" {
		t.Fatalf("single controller: %+v %v %+v", p, err, o)
	}
	three := []string{"nats://ctl-a.example:6222", "nats://ctl-b.example:6222", "ctl-c.example:6222"}
	cases := []struct {
		name     string
		mut      func(*Options)
		servers  int
		replicas int
		err      string
	}{
		{"all three listed, self included", func(o *Options) { o.Routes = three }, 3, 3, ""},
		{"the two others listed", func(o *Options) { o.Routes = three[1:] }, 3, 3, ""},
		{"duplicates count once", func(o *Options) { o.Routes = append(three[1:], "nats://CTL-B.example:6222") }, 3, 3, ""},
		{"two servers", func(o *Options) { o.Routes = three[1:2] }, 2, 1, ""},
		{"seed with no routes", func(o *Options) {}, 1, 1, ""},
		{"explicit replicas", func(o *Options) { o.Routes = three; o.Replicas = 2 }, 3, 2, ""},
		{"more replicas than servers", func(o *Options) { o.Routes = three[1:2]; o.Replicas = 3 }, 0, 0, "names only 2 servers"},
		{"too many replicas", func(o *Options) { o.Routes = three; o.Replicas = 7 }, 0, 0, "at most 5"},
		{"no TLS", func(o *Options) { o.Routes = three; o.Plaintext = true }, 0, 0, "needs TLS"},
		{"credentials in a route", func(o *Options) { o.Routes = []string{"nats://u:hunter2@ctl-b.example:6222"} }, 0, 0, "carries credentials"},
		{"route without port", func(o *Options) { o.Routes = []string{"nats://ctl-b.example"} }, 0, 0, "must be nats://host:port"},
		{"bad name", func(o *Options) { o.Name = "ctl a" }, 0, 0, "server name"},
		{"bad cluster name", func(o *Options) { o.ClusterName = "my cluster" }, 0, 0, "cluster name"},
		{"cluster advertise", func(o *Options) { o.ClusterAdvertise = "ctl-a.internal:7222"; o.Routes = three[1:] }, 3, 3, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			o.Cluster, o.Name = "0.0.0.0:6222", "ctl-a"
			tc.mut(&o)
			p, err := planCluster(&o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.servers != tc.servers || o.Replicas != tc.replicas || o.ClusterName != DefaultClusterName {
				t.Fatalf("servers %d replicas %d cluster %q, want %d %d", p.servers, o.Replicas, o.ClusterName, tc.servers, tc.replicas)
			}
			for _, r := range p.routes {
				if r.User != nil || r.Scheme != "nats" {
					t.Fatalf("route %v", r)
				}
			}
			if o.ClusterAdvertise != "" && (p.advertise != o.ClusterAdvertise || p.names[0] != "ctl-a.internal") {
				t.Fatalf("advertise %q names %v", p.advertise, p.names)
			}
			if o.ClusterAdvertise == "" && p.advertise != "ctl-a.example:6222" {
				t.Fatalf("default route advertise %q", p.advertise)
			}
		})
	}
	o = base()
	o.Routes = three
	if _, err := planCluster(&o); err == nil || !strings.Contains(err.Error(), "--routes needs --cluster") {
		t.Fatalf("routes without cluster: %v", err)
	}
	o = base()
	o.Replicas = 3
	if _, err := planCluster(&o); err == nil {
		t.Fatal("replicas 3 without a cluster accepted")
	}
}

func TestCopySharedKeys(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "new")
	if _, err := CopySharedKeys(src, dst); err == nil || !strings.Contains(err.Error(), "has no") {
		t.Fatalf("empty source: %v", err)
	}
	if _, err := Init(InitOptions{DataDir: src, Advertise: []string{"ctl-a.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, RetiredKeysDir), 0o700); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(filepath.Join(src, SigningKeyFile))
	if err := pki.WriteFile(filepath.Join(src, RetiredKeysDir, "old.key"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	wrote, err := CopySharedKeys(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrote) != len(SharedKeyFiles)+1 {
		t.Fatalf("wrote %v", wrote)
	}
	for _, f := range append(SharedKeyFiles, filepath.Join(RetiredKeysDir, "old.key")) {
		a, _ := os.ReadFile(filepath.Join(src, f))
		b, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || string(a) != string(b) {
			t.Fatalf("%s not copied: %v", f, err)
		}
		st, _ := os.Stat(filepath.Join(dst, f))
		want := os.FileMode(0o600)
		if f == pki.CAFile {
			want = 0o644
		}
		if st.Mode().Perm() != want {
			t.Fatalf("%s mode %o", f, st.Mode().Perm())
		}
	}
	// Init on the copy keeps the shared keys and issues its own
	// certificate for its own names.
	res, err := Init(InitOptions{DataDir: dst, Advertise: []string{"ctl-b.example"}})
	if err != nil {
		t.Fatal(err)
	}
	resA, _ := Init(InitOptions{DataDir: src, Advertise: []string{"ctl-a.example"}})
	if res.SigningKey != resA.SigningKey || res.AdminKey != resA.AdminKey || res.CertSerial == resA.CertSerial {
		t.Fatalf("joined controller: %+v vs %+v", res, resA)
	}
	// Copying again changes nothing; a different key set is refused.
	if wrote, err := CopySharedKeys(src, dst); err != nil || len(wrote) != 0 {
		t.Fatalf("second copy: %v %v", wrote, err)
	}
	other := t.TempDir()
	if _, err := Init(InitOptions{DataDir: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := CopySharedKeys(other, dst); err == nil || !strings.Contains(err.Error(), "different") {
		t.Fatalf("foreign key set: %v", err)
	}
	// A secret readable by others is refused, not spread.
	_ = os.Chmod(filepath.Join(src, RouteSecretFile), 0o644)
	if _, err := CopySharedKeys(src, t.TempDir()); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("world-readable route secret: %v", err)
	}
}
