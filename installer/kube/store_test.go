package kube

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

func TestFileStoreWritesPrivateFilesAndReadsThemBack(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s := NewStore(home, nil)

	where, err := s.SaveKubeconfig(ctx, "prod", []byte(k3sKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(home, "clusters", "prod", "kubeconfig")
	if where != want {
		t.Fatalf("where = %q, want %q", where, want)
	}
	if _, err := s.SaveToken(ctx, "prod", "K10secret::server:abc"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kubeconfig", "token"} {
		st, err := os.Stat(filepath.Join(home, "clusters", "prod", f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %04o, want 0600", f, st.Mode().Perm())
		}
	}
	st, err := os.Stat(filepath.Join(home, "clusters", "prod"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("cluster dir mode = %v, %v; want 0700", st.Mode().Perm(), err)
	}
	kc, err := s.LoadKubeconfig(ctx, "prod")
	if err != nil || string(kc) != k3sKubeconfig {
		t.Fatalf("LoadKubeconfig = %q, %v", kc, err)
	}
	tok, err := s.LoadToken(ctx, "prod")
	if err != nil || tok != "K10secret::server:abc" {
		t.Fatalf("LoadToken = %q, %v", tok, err)
	}
}

// An overwrite replaces the file by rename: a reader that opened the old
// kubeconfig still reads it whole, and no temporary file is left behind.
func TestFileStoreReplacesAtomically(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s := NewStore(home, nil)
	if _, err := s.SaveKubeconfig(ctx, "prod", []byte("old-kubeconfig")); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(home, "clusters", "prod", "kubeconfig")
	old, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := s.SaveKubeconfig(ctx, "prod", []byte("new")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := old.Read(buf)
	if string(buf[:n]) != "old-kubeconfig" {
		t.Fatalf("a reader of the old file read %q: the file was rewritten in place", buf[:n])
	}
	if b, _ := os.ReadFile(name); string(b) != "new" {
		t.Fatalf("new content = %q", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(name))
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("cluster dir holds %v, want only the kubeconfig", names)
	}
	if st, _ := os.Stat(name); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after overwrite = %04o", st.Mode().Perm())
	}
}

func TestFileStoreErrorsSayWhatToDo(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s := NewStore(home, nil)

	_, err := s.LoadKubeconfig(ctx, "prod")
	if err == nil || !strings.Contains(err.Error(), "no kubeconfig for cluster prod") || !strings.Contains(err.Error(), "run foundry cluster init") {
		t.Fatalf("missing kubeconfig: err = %v", err)
	}
	if _, err := s.LoadToken(ctx, "prod"); err == nil || !strings.Contains(err.Error(), "foundry cluster init") {
		t.Fatalf("missing token: err = %v", err)
	}

	// A kubeconfig others can read is refused, with the chmod to run.
	if _, err := s.SaveKubeconfig(ctx, "prod", []byte("kc")); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(home, "clusters", "prod", "kubeconfig")
	if err := os.Chmod(name, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.LoadKubeconfig(ctx, "prod")
	if !errors.Is(err, secrets.ErrInsecureFile) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable kubeconfig: err = %v", err)
	}

	for _, bad := range []string{"", "..", "a/b", "../../etc", strings.Repeat("x", 64)} {
		if _, err := s.SaveKubeconfig(ctx, bad, []byte("kc")); err == nil {
			t.Errorf("cluster name %q accepted", bad)
		}
	}
	if _, err := s.SaveKubeconfig(ctx, "prod", nil); err == nil {
		t.Error("empty kubeconfig accepted")
	}
	if _, err := s.SaveToken(ctx, "prod", ""); err == nil {
		t.Error("empty token accepted")
	}
}

// With OpenBAO configured the secrets go there (through the real client,
// against the OpenBAO test double over HTTP), and nothing is written under
// the home directory.
func TestBaoStoreKeepsSecretsInOpenBAO(t *testing.T) {
	ctx := context.Background()
	srv := openbao.NewDev("root-token")
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	bao, err := secrets.NewBaoClient(secrets.BaoOptions{Address: ts.URL, Token: "root-token"})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	s := NewStore(home, bao)

	if _, err := s.LoadKubeconfig(ctx, "prod"); err == nil || !strings.Contains(err.Error(), "run foundry cluster init") {
		t.Fatalf("missing kubeconfig in OpenBAO: err = %v", err)
	}
	where, err := s.SaveKubeconfig(ctx, "prod", []byte(k3sKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	if where != "OpenBAO foundry/k3s/kubeconfig:kubeconfig" {
		t.Fatalf("where = %q", where)
	}
	if _, err := s.SaveToken(ctx, "prod", "tok-1"); err != nil {
		t.Fatal(err)
	}
	// A second save is a new version, not a check-and-set conflict.
	if _, err := s.SaveToken(ctx, "prod", "tok-2"); err != nil {
		t.Fatal(err)
	}

	sec, err := bao.KVGet(ctx, "foundry/k3s/kubeconfig")
	if err != nil || sec.Data["kubeconfig"] != k3sKubeconfig {
		t.Fatalf("OpenBAO foundry/k3s/kubeconfig = %v, %v", sec, err)
	}
	kc, err := s.LoadKubeconfig(ctx, "prod")
	if err != nil || string(kc) != k3sKubeconfig {
		t.Fatalf("LoadKubeconfig = %q, %v", kc, err)
	}
	tok, err := s.LoadToken(ctx, "prod")
	if err != nil || tok != "tok-2" {
		t.Fatalf("LoadToken = %q, %v", tok, err)
	}
	if ents, _ := os.ReadDir(home); len(ents) != 0 {
		t.Fatalf("home has %d entries; with OpenBAO nothing goes to files", len(ents))
	}
}
