package openbao

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

func open(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStateSurvivesRestartAndNeedsUnsealing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // Open must create it
	ctx := context.Background()

	// First life: install, init, unseal, write.
	first := open(t, dir)
	ts := start(t, first)
	c := client(t, ts, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range init.KeysB64[:2] {
		if _, err := c.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("foundry", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("foundry").Put(ctx, "app/db", map[string]any{"password": "p1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("foundry").Put(ctx, "app/db", map[string]any{"password": "p2"}); err != nil {
		t.Fatal(err)
	}
	first.AddToken("reader", Policy{Name: "app-read", Rules: []Rule{{Path: "foundry/data/app/*", Capabilities: []string{CapRead}}}})
	ts.Close()

	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("storage dir: %v %v, want mode 0700", info.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != StateFile {
		t.Fatalf("storage dir holds %v, want only %s (no temporary files left)", entries, StateFile)
	}
	if info, _ := entries[0].Info(); info.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", info.Mode())
	}

	// Second life: sealed until unsealed again.
	ts = start(t, open(t, dir))
	c = client(t, ts, init.RootToken)
	st, err := c.Sys().SealStatus()
	if err != nil || !st.Initialized || !st.Sealed || st.T != 2 || st.N != 3 {
		t.Fatalf("after restart: %+v %v, want initialised and sealed, 2 of 3", st, err)
	}
	if _, err := c.KVv2("foundry").Get(ctx, "app/db"); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("read while sealed: %v, want a sealed error", err)
	}
	if _, err := c.Sys().Unseal(init.KeysB64[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sys().Unseal(strings.Repeat("ab", 33)); err == nil {
		t.Fatal("unseal with a key that is not a share succeeded")
	}
	if st, err := c.Sys().SealStatus(); err != nil || !st.Sealed {
		t.Fatalf("after a wrong key: %+v %v, want still sealed", st, err)
	}
	for _, k := range []string{init.Keys[1], init.Keys[2]} { // hex works as well as base64
		if _, err := c.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.KVv2("foundry").Get(ctx, "app/db")
	if err != nil || got.Data["password"] != "p2" || got.VersionMetadata.Version != 2 {
		t.Fatalf("secret after restart: %v %+v", err, got)
	}
	old, err := c.KVv2("foundry").GetVersion(ctx, "app/db", 1)
	if err != nil || old.Data["password"] != "p1" {
		t.Fatalf("version 1 after restart: %v %+v", err, old)
	}
	reader := client(t, ts, "reader")
	if _, err := reader.KVv2("foundry").Get(ctx, "app/db"); err != nil {
		t.Fatalf("token added before the restart: %v", err)
	}
	if _, err := reader.KVv2("foundry").Put(ctx, "app/db", map[string]any{"x": "y"}); err == nil {
		t.Fatal("the reader token's policy was lost: it may write")
	}
}

func TestWithoutStateFileOpenIsUninitialised(t *testing.T) {
	ts := start(t, open(t, t.TempDir()))
	st, err := client(t, ts, "").Sys().SealStatus()
	if err != nil || st.Initialized || !st.Sealed {
		t.Fatalf("%+v %v, want uninitialised", st, err)
	}
}

func TestOpenRejectsCorruptState(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), StateFile) {
		t.Fatalf("corrupt state: %v, want an error naming the file", err)
	}
}

func TestHealthAndSealStatusReportTheVersion(t *testing.T) {
	s := NewDev(root)
	s.SetVersion("2.2.0")
	c := client(t, start(t, s), root)
	h, err := c.Sys().Health()
	if err != nil || h.Version != "2.2.0" {
		t.Fatalf("health: %+v %v, want version 2.2.0", h, err)
	}
	st, err := c.Sys().SealStatus()
	if err != nil || st.Version != "2.2.0" {
		t.Fatalf("seal-status: %+v %v, want version 2.2.0", st, err)
	}
}
