package component

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

// A freshly installed OpenBAO has no secrets engine: before this, init
// and unseal left it so, and the first `foundry secret set` failed. The
// double starts as the real server does (uninitialised, sealed, no
// mounts), so the KV write below proves the mount was enabled.
func TestFirstInitEnablesKVAtTheConfiguredMount(t *testing.T) {
	srv := openbao.New()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	env, _ := testEnv(t, stackYAML)
	env.IO.SetTTY(false, false)
	home, _ := env.Home()
	keys := secrets.UnsealKeys{Dir: home}
	bao, err := secrets.NewBaoClient(secrets.BaoOptions{Address: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	notes, err := readyOpenBAO(ctx, env, bao, keys, "bao1", "foundry-kv", ApplyOptions{})
	if err != nil {
		t.Fatalf("%v (notes %v)", err, notes)
	}
	if got := strings.Join(notes, "\n"); !strings.Contains(got, "KV v2 secrets engine enabled at foundry-kv/") {
		t.Fatalf("notes: %s", got)
	}
	tok, _, err := (&secrets.TokenStore{Dir: home, Keyring: secrets.SystemKeyring()}).Load()
	if err != nil {
		t.Fatal(err)
	}
	kv, err := secrets.NewBaoClient(secrets.BaoOptions{Address: ts.URL, Token: tok, Mount: "foundry-kv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.KVPut(ctx, "foundry/first", map[string]any{"k": "v"}, -1); err != nil {
		t.Fatalf("secret set on a fresh install: %v", err)
	}
	// A second run finds it initialised and unsealed and changes nothing.
	notes, err = readyOpenBAO(ctx, env, bao, keys, "bao1", "foundry-kv", ApplyOptions{})
	if err != nil || len(notes) != 0 {
		t.Fatalf("re-run: %v %v", notes, err)
	}
}
