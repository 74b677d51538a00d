package openbao

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// The user flow Foundry drives, through the official client: enable
// userpass, write a policy, a user, an entity and its alias; log in; the
// login token carries the policy, which the KV routes enforce.
func TestDoubleUserpassEntityAndPolicy(t *testing.T) {
	ts := start(t, NewDev(root))
	ctx := context.Background()
	c := client(t, ts, root)

	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, "userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, "userpass", &api.EnableAuthOptions{Type: "userpass"}); err == nil {
		t.Fatal("enabling userpass twice worked; OpenBAO says the path is in use")
	}
	auths, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil || auths["userpass/"] == nil || auths["userpass/"].Accessor == "" || auths["token/"] == nil {
		t.Fatalf("auth list: %v %+v", err, auths)
	}
	acc := auths["userpass/"].Accessor

	if err := c.Sys().PutPolicyWithContext(ctx, "alice", `path "secret/data/users/alice/*" { capabilities = ["create", "read", "update"] }`); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().PutPolicyWithContext(ctx, "bad", `path "x" { capabilities = ["read"] } unknown = true`); err == nil {
		t.Fatal("a policy the double cannot read was accepted")
	}
	if _, err := c.Logical().Write("auth/userpass/users/alice", map[string]any{"password": "pw", "token_policies": "alice"}); err != nil {
		t.Fatal(err)
	}
	ent, err := c.Logical().Write("identity/entity", map[string]any{"name": "alice", "metadata": map[string]string{"k": "v"}})
	if err != nil || ent == nil || ent.Data["id"] == "" {
		t.Fatalf("entity: %v %+v", err, ent)
	}
	id := ent.Data["id"].(string)
	if again, err := c.Logical().Write("identity/entity", map[string]any{"name": "alice"}); err != nil || again != nil {
		t.Fatalf("writing an existing entity name updates it with 204: %v %+v", err, again)
	}
	if _, err := c.Logical().Write("identity/entity-alias", map[string]any{"name": "alice", "canonical_id": id, "mount_accessor": "nope"}); err == nil {
		t.Fatal("an alias on an unknown accessor was accepted")
	}
	if _, err := c.Logical().Write("identity/entity-alias", map[string]any{"name": "alice", "canonical_id": id, "mount_accessor": acc}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("identity/entity-alias", map[string]any{"name": "alice", "canonical_id": id, "mount_accessor": acc}); err == nil {
		t.Fatal("a second alias with the same mount and name was accepted")
	}
	got, err := c.Logical().Read("identity/entity/name/alice")
	if err != nil || got == nil || got.Data["id"] != id || len(got.Data["aliases"].([]any)) != 1 {
		t.Fatalf("read entity: %v %+v", err, got)
	}
	if names, err := c.Logical().List("identity/entity/name"); err != nil || names == nil || len(names.Data["keys"].([]any)) != 1 {
		t.Fatalf("list entities: %v %+v", err, names)
	}

	anon := client(t, ts, "")
	anon.ClearToken()
	login, err := anon.Logical().Write("auth/userpass/login/alice", map[string]any{"password": "pw"})
	if err != nil || login.Auth == nil || login.Auth.EntityID != id {
		t.Fatalf("login: %v %+v", err, login)
	}
	if _, err := anon.Logical().Write("auth/userpass/login/alice", map[string]any{"password": "no"}); err == nil {
		t.Fatal("a wrong password logged in")
	}
	alice := client(t, ts, login.Auth.ClientToken)
	if _, err := alice.KVv2("secret").Put(ctx, "users/alice/x", map[string]any{"a": "b"}); err != nil {
		t.Fatalf("alice writes her path: %v", err)
	}
	_, err = alice.KVv2("secret").Put(ctx, "users/bob/x", map[string]any{"a": "b"})
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("alice writes bob's path: %v", err)
	}
	if _, err := alice.Logical().Write("identity/entity", map[string]any{"name": "mallory"}); err == nil {
		t.Fatal("alice's token made an entity")
	}

	// Deleting the entity deletes its aliases; deleting a user makes
	// reads 404 (nil secret for the client).
	if _, err := c.Logical().Delete("identity/entity/id/" + id); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Logical().Read("identity/entity/name/alice"); err != nil || got != nil {
		t.Fatalf("deleted entity still reads: %v %+v", err, got)
	}
	if _, err := c.Logical().Delete("auth/userpass/users/alice"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Logical().Read("auth/userpass/users/alice"); err != nil || got != nil {
		t.Fatalf("deleted user still reads: %v %+v", err, got)
	}
}
