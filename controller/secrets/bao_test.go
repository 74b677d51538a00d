package secrets

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

func TestBaoKVRoundTrip(t *testing.T) {
	_, c := startBao(t, rootToken)
	ctx := context.Background()

	if _, err := c.KVGet(ctx, "foundry/grafana"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing secret: %v, want ErrNotFound", err)
	}
	v, err := c.SetKey(ctx, "foundry/grafana", "admin_password", "pw1")
	if err != nil || v != 1 {
		t.Fatalf("SetKey: %d %v", v, err)
	}
	if v, err = c.SetKey(ctx, "foundry/grafana", "admin_user", "admin"); err != nil || v != 2 {
		t.Fatalf("second SetKey: %d %v", v, err)
	}
	s, err := c.KVGet(ctx, "foundry/grafana")
	if err != nil {
		t.Fatal(err)
	}
	if s.Data["admin_password"] != "pw1" || s.Data["admin_user"] != "admin" || s.Version != 2 {
		t.Fatalf("SetKey must keep other keys: %+v", s)
	}
	if _, err := c.KVPut(ctx, "foundry/grafana", map[string]any{"x": "y"}, 1); err == nil {
		t.Fatal("stale check-and-set accepted")
	}
	if _, err := c.SetKey(ctx, "foundry/zot", "storage_path", "/mnt"); err != nil {
		t.Fatal(err)
	}
	keys, err := c.KVList(ctx, "foundry")
	if err != nil || strings.Join(keys, ",") != "grafana,zot" {
		t.Fatalf("list foundry: %v %v", keys, err)
	}
	root, err := c.KVList(ctx, "")
	if err != nil || strings.Join(root, ",") != "foundry/" {
		t.Fatalf("list root: %v %v", root, err)
	}
	empty, err := c.KVList(ctx, "nothing/here")
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty list: %v %v, want no entries and no error", empty, err)
	}
	meta, err := c.KVMetadata(ctx, "foundry/grafana")
	if err != nil || meta.CurrentVersion != 2 {
		t.Fatalf("metadata: %+v %v", meta, err)
	}
	if err := c.KVDestroy(ctx, "foundry/zot"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVGet(ctx, "foundry/zot"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after destroy: %v", err)
	}
	h, err := c.Health(ctx)
	if err != nil || !h.Initialized || h.Sealed {
		t.Fatalf("health: %+v %v", h, err)
	}
	info, err := c.LookupSelf(ctx)
	if err != nil || len(info.Policies) != 1 || info.Policies[0] != "root" {
		t.Fatalf("lookup-self: %+v %v", info, err)
	}
}

// Each failure mode must be its own kind and tell the user what to do.
func TestBaoFailuresSayWhatToDo(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		setup   func(t *testing.T) *BaoClient
		kind    error
		mention []string
	}{
		{
			name:    "unreachable",
			setup:   func(t *testing.T) *BaoClient { return newClient(t, deadAddress(t), rootToken) },
			kind:    ErrUnreachable,
			mention: []string{"connection refused", "foundry.openbao.address", "BAO_ADDR"},
		},
		{
			name: "sealed",
			setup: func(t *testing.T) *BaoClient {
				srv, c := startBao(t, rootToken)
				srv.Seal()
				return c
			},
			kind:    ErrSealed,
			mention: []string{"bao operator unseal", "0 of 1 unseal keys"},
		},
		{
			name: "bad token",
			setup: func(t *testing.T) *BaoClient {
				_, c := startBao(t, "no-such-token")
				return c
			},
			kind:    ErrTokenInvalid,
			mention: []string{"foundry secret login", "revoked or expired"},
		},
		{
			name: "token without permission",
			setup: func(t *testing.T) *BaoClient {
				srv, c := startBao(t, "limited")
				srv.AddToken("limited", openbao.Policy{Name: "other-only", Rules: []openbao.Rule{
					{Path: "secret/data/other/*", Capabilities: []string{openbao.CapRead}},
				}})
				return c
			},
			kind:    ErrPermissionDenied,
			mention: []string{"secret/data/foundry/truenas", "other-only", "grant this path"},
		},
		{
			name: "no token",
			setup: func(t *testing.T) *BaoClient {
				_, c := startBao(t, "")
				return c
			},
			kind:    ErrNoToken,
			mention: []string{"foundry secret login"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client := c.setup(t)
			_, err := client.KVGet(ctx, "foundry/truenas")
			if !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			for _, m := range c.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestBaoNotInitialisedIsItsOwnError(t *testing.T) {
	ts := newUninitialised(t)
	c := newClient(t, ts, rootToken)
	_, err := c.KVGet(context.Background(), "foundry/x")
	if !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), "bao operator init") {
		t.Fatalf("err = %v, want ErrNotInitialized with init advice", err)
	}
	h, err := c.Health(context.Background())
	if err != nil || h.Initialized {
		t.Fatalf("health on uninitialised server: %+v %v", h, err)
	}
}

func TestLookupSelfRejectsBadToken(t *testing.T) {
	_, c := startBao(t, "nope")
	if _, err := c.LookupSelf(context.Background()); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrTokenInvalid", err)
	}
}

func TestNewBaoClientRejectsBadAddress(t *testing.T) {
	for _, a := range []string{"", "openbao:8200", "ftp://x", "https://"} {
		if _, err := NewBaoClient(BaoOptions{Address: a}); err == nil || !strings.Contains(err.Error(), "foundry.openbao.address") {
			t.Errorf("address %q: %v", a, err)
		}
	}
}

func TestBaoRejectsBadPathsBeforeSending(t *testing.T) {
	_, c := startBao(t, rootToken)
	if _, err := c.KVGet(context.Background(), "../sys"); err == nil || !strings.Contains(err.Error(), "'..'") {
		t.Fatalf("err = %v", err)
	}
}
