package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testPEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"

func TestSSHKeysInOpenBAO(t *testing.T) {
	_, bao := startBao(t, rootToken)
	st, err := NewSSHKeyStore(SSHKeysOpenBAO, bao, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.LoadSSHKey(ctx, "node1.example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before store: %v, want ErrNotFound", err)
	}
	if err := st.StoreSSHKey(ctx, "Node1.example.com", []byte(testPEM)); err != nil {
		t.Fatal(err)
	}
	got, err := st.LoadSSHKey(ctx, "node1.example.com")
	if err != nil || string(got) != testPEM {
		t.Fatalf("load: %q %v", got, err)
	}
	sec, err := bao.KVGet(ctx, "foundry/ssh-keys/node1.example.com")
	if err != nil || sec.Data[SSHKeyField] != testPEM {
		t.Fatalf("key not at foundry/ssh-keys/<hostname>: %+v %v", sec, err)
	}
}

func TestSSHKeysInFiles(t *testing.T) {
	home := t.TempDir()
	st, err := NewSSHKeyStore(SSHKeysFile, nil, home)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.StoreSSHKey(ctx, "node2", []byte(testPEM)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(home, "ssh-keys", "node2")
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v, want 0600", fi, err)
	}
	di, err := os.Stat(filepath.Dir(p))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir %v %v, want 0700", di, err)
	}
	got, err := st.LoadSSHKey(ctx, "node2")
	if err != nil || string(got) != testPEM {
		t.Fatalf("load: %q %v", got, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadSSHKey(ctx, "node2"); !errors.Is(err, ErrInsecureFile) {
		t.Fatalf("world-readable key: %v, want ErrInsecureFile", err)
	}
	if _, err := st.LoadSSHKey(ctx, "node3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if had, err := st.DeleteSSHKey(ctx, "node2"); !had || err != nil {
		t.Fatalf("delete: %v %v", had, err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key file still there after delete: %v", err)
	}
	if had, err := st.DeleteSSHKey(ctx, "node2"); had || err != nil {
		t.Fatalf("second delete: %v %v", had, err)
	}
}

func TestSSHKeysRejectBadInput(t *testing.T) {
	st, err := NewSSHKeyStore(SSHKeysFile, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, h := range []string{"", "../etc/passwd", "a/b", "-bad", "bad_host", strings.Repeat("a", 64)} {
		if err := st.StoreSSHKey(ctx, h, []byte(testPEM)); err == nil || !strings.Contains(err.Error(), "RFC 1123") {
			t.Errorf("hostname %q: %v", h, err)
		}
	}
	if err := st.StoreSSHKey(ctx, "node1", []byte("not a key")); err == nil || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("non-PEM key: %v", err)
	}
	if _, err := NewSSHKeyStore(SSHKeysOpenBAO, nil, "/x"); err == nil || !strings.Contains(err.Error(), "ssh_keys: file") {
		t.Errorf("openbao without client: %v", err)
	}
	if _, err := NewSSHKeyStore("vault", nil, "/x"); err == nil {
		t.Error("unknown backend accepted")
	}
}
