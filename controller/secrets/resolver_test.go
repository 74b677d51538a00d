package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chain builds env -> vars file -> OpenBAO with a fake environment.
func chain(t *testing.T, ns string, env map[string]string, vars string, bao *BaoClient) *Resolver {
	t.Helper()
	p := filepath.Join(t.TempDir(), ".foundryvars")
	if vars != "" {
		if err := os.WriteFile(p, []byte(vars), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return &Resolver{Namespace: ns, Sources: []Source{
		EnvSource{LookupEnv: look}, &VarsSource{Path: p}, BaoSource{Client: bao},
	}}
}

func TestResolveOrderIsEnvThenVarsThenOpenBAO(t *testing.T) {
	_, bao := startBao(t, rootToken)
	ctx := context.Background()
	if _, err := bao.SetKey(ctx, "myservice-stable/database/prod", "password", "from-bao"); err != nil {
		t.Fatal(err)
	}
	ref := Ref{"database/prod", "password"}
	env := map[string]string{"FOUNDRY_SECRET_myservice_stable_database_prod_password": "from-env"}
	vars := "myservice-stable/database/prod:password=from-vars\n"

	cases := []struct {
		name       string
		env        map[string]string
		vars       string
		want, from string
	}{
		{"env wins", env, vars, "from-env", "environment"},
		{"vars next", nil, vars, "from-vars", ".foundryvars"},
		{"openbao last", nil, "", "from-bao", "OpenBAO at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := chain(t, "myservice-stable", c.env, c.vars, bao).ResolveFrom(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if res.Value != c.want || !strings.Contains(res.Source, c.from) {
				t.Fatalf("got %q from %q, want %q from %q", res.Value, res.Source, c.want, c.from)
			}
			if res.Ref.PathKey() != "myservice-stable/database/prod:password" {
				t.Fatalf("namespaced ref %v", res.Ref)
			}
		})
	}
}

func TestResolveNotFoundNamesReferenceAndThreePlaces(t *testing.T) {
	_, bao := startBao(t, rootToken)
	_, err := chain(t, "foundry", nil, "", bao).Resolve(context.Background(), Ref{"truenas", "api_key"})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	for _, want := range []string{
		"${secret:truenas:api_key}",
		"foundry/truenas:api_key",
		"environment variable FOUNDRY_SECRET_foundry_truenas_api_key",
		".foundryvars",
		"OpenBAO at http://",
		"foundry secret set foundry/truenas --key api_key",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestResolveEmptyValueIsNeverSuccess(t *testing.T) {
	env := map[string]string{"FOUNDRY_SECRET_foundry_x_k": ""}
	_, err := chain(t, "foundry", env, "", nil).Resolve(context.Background(), Ref{"x", "k"})
	if !errors.Is(err, ErrEmptyValue) || !strings.Contains(err.Error(), "FOUNDRY_SECRET_foundry_x_k") {
		t.Fatalf("err = %v, want ErrEmptyValue naming the variable", err)
	}
}

func TestResolveStopsAtABrokenSource(t *testing.T) {
	_, bao := startBao(t, rootToken)
	if _, err := bao.SetKey(context.Background(), "foundry/x", "k", "v"); err != nil {
		t.Fatal(err)
	}
	_, err := chain(t, "foundry", nil, "garbage line\n", bao).Resolve(context.Background(), Ref{"x", "k"})
	if !errors.Is(err, ErrMalformedVars) {
		t.Fatalf("err = %v, want ErrMalformedVars (a broken override must not fall through)", err)
	}
}

func TestResolveReportsOpenBAOFailureNotNotFound(t *testing.T) {
	srv, bao := startBao(t, rootToken)
	srv.Seal()
	_, err := chain(t, "foundry", nil, "", bao).Resolve(context.Background(), Ref{"x", "k"})
	if !errors.Is(err, ErrSealed) || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrSealed", err)
	}
}

func TestResolveWithoutOpenBAOSaysItIsNotConfigured(t *testing.T) {
	_, err := chain(t, "foundry", nil, "", nil).Resolve(context.Background(), Ref{"x", "k"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "OpenBAO (not configured") {
		t.Fatalf("err = %v", err)
	}
}

func TestResolveStructuredValueIsAnError(t *testing.T) {
	_, bao := startBao(t, rootToken)
	if _, err := bao.KVPut(context.Background(), "foundry/x", map[string]any{"k": map[string]any{"a": 1}, "n": 42}, -1); err != nil {
		t.Fatal(err)
	}
	r := chain(t, "foundry", nil, "", bao)
	if _, err := r.Resolve(context.Background(), Ref{"x", "k"}); err == nil || !strings.Contains(err.Error(), "structured value") {
		t.Fatalf("err = %v", err)
	}
	if v, err := r.Resolve(context.Background(), Ref{"x", "n"}); err != nil || v != "42" {
		t.Fatalf("number: %q %v", v, err)
	}
}

func TestExpandStringResolvesEmbeddedReferences(t *testing.T) {
	env := map[string]string{"FOUNDRY_SECRET_svc_ns_db_user": "app", "FOUNDRY_SECRET_svc_ns_db_pass": "pw"}
	got, err := chain(t, "svc-ns", env, "", nil).ExpandString(context.Background(), "postgres://${secret:db:user}:${secret:db:pass}@db")
	if err != nil || got != "postgres://app:pw@db" {
		t.Fatalf("got %q %v", got, err)
	}
}

func TestNewResolverBuildsTheStandardChain(t *testing.T) {
	r := NewResolver("foundry", "/home/u/.foundryvars", nil)
	if len(r.Sources) != 3 || r.Sources[0].Name() != "environment" || r.Sources[1].Name() != "/home/u/.foundryvars" {
		t.Fatalf("sources: %+v", r.Sources)
	}
}
