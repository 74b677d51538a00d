package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

func TestNewCmdGetParsesArgs(t *testing.T) {
	cases := []struct {
		args      []string
		path, key string
		yes, json bool
		flagErr   bool
	}{
		{args: []string{"foundry/grafana:admin_password"}, path: "foundry/grafana", key: "admin_password"},
		{args: []string{"foundry/truenas", "--yes", "--json"}, path: "foundry/truenas", yes: true, json: true},
		{args: []string{"a//b:k"}, flagErr: true},
		{args: []string{"a:b:c"}, flagErr: true},
		{args: []string{"/abs"}, flagErr: true},
	}
	for _, c := range cases {
		s := newStreams()
		var got *GetOptions
		cmd := NewCmdGet(factory(s, t.TempDir()), func(o *GetOptions) error { got = o; return nil })
		cmd.SetArgs(c.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		var fe *cmdutil.FlagError
		if c.flagErr {
			if !errors.As(err, &fe) {
				t.Errorf("%v: err = %v, want FlagError", c.args, err)
			}
			continue
		}
		if err != nil || got.Path != c.path || got.Key != c.key || got.Yes != c.yes || got.JSON != c.json {
			t.Errorf("%v: %v %+v", c.args, err, got)
		}
	}
}

func getOpts(t *testing.T, s streams, b *bao, token string) *GetOptions {
	return &GetOptions{IO: s.io, Bao: b.client(t, token), LookupEnv: noEnv, VarsPath: noVars(t),
		Path: "foundry/grafana", Key: "admin_password"}
}

func TestGetRunWithoutTTYNeedsYes(t *testing.T) {
	b := startBao(t)
	s := newStreams()
	o := getOpts(t, s, b, rootToken)
	o.Bao = func() (*secrets.BaoClient, error) { t.Fatal("OpenBAO contacted before confirmation"); return nil, nil }
	err := getRun(o)
	if !errors.Is(err, cmdutil.ErrNeedYes) || err.Error() != "--yes required when not running interactively" {
		t.Fatalf("err = %v", err)
	}
	if s.stdout.Len() != 0 {
		t.Fatalf("printed %q", s.stdout)
	}
}

func TestGetRunAsksOnTTY(t *testing.T) {
	b := startBao(t)
	b.put(t, "foundry/grafana", map[string]any{"admin_password": "pw1"})

	s := newStreams()
	s.io.SetTTY(true, true)
	s.in.WriteString("n\n")
	if err := getRun(getOpts(t, s, b, rootToken)); !errors.Is(err, cmdutil.ErrCancelled) || s.stdout.Len() != 0 {
		t.Fatalf("declined: err %v stdout %q", err, s.stdout)
	}

	s = newStreams()
	s.io.SetTTY(true, true)
	s.in.WriteString("y\n")
	if err := getRun(getOpts(t, s, b, rootToken)); err != nil {
		t.Fatal(err)
	}
	if s.stdout.String() != "pw1\n" {
		t.Fatalf("stdout %q", s.stdout)
	}
	if !strings.Contains(s.stderr.String(), "Print the value of foundry/grafana:admin_password? [y/N]") ||
		!strings.Contains(s.stderr.String(), "(from OpenBAO at "+b.url+")") {
		t.Fatalf("stderr %q", s.stderr)
	}
}

func TestGetRunUsesTheResolutionChain(t *testing.T) {
	b := startBao(t)
	b.put(t, "foundry/grafana", map[string]any{"admin_password": "from-bao"})
	s := newStreams()
	o := getOpts(t, s, b, rootToken)
	o.Yes, o.JSON = true, true
	o.VarsPath = varsFile(t, "foundry/grafana:admin_password=from-vars\n")
	if err := getRun(o); err != nil {
		t.Fatal(err)
	}
	var got valueJSON
	if err := json.Unmarshal(s.stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Value != "from-vars" || !strings.HasSuffix(got.Source, ".foundryvars") {
		t.Fatalf("%+v", got)
	}

	s = newStreams()
	o = getOpts(t, s, b, rootToken)
	o.Yes = true
	o.LookupEnv = func(k string) (string, bool) {
		return "from-env", k == "FOUNDRY_SECRET_foundry_grafana_admin_password"
	}
	if err := getRun(o); err != nil || s.stdout.String() != "from-env\n" {
		t.Fatalf("env: %v %q", err, s.stdout)
	}
}

func TestGetRunWithoutOpenBAOAddressStillReadsOverrides(t *testing.T) {
	s := newStreams()
	o := &GetOptions{IO: s.io, Bao: func() (*secrets.BaoClient, error) { return nil, errNoAddress },
		LookupEnv: noEnv, VarsPath: varsFile(t, "foundry/x:k=v\n"), Path: "foundry/x", Key: "k", Yes: true}
	if err := getRun(o); err != nil || s.stdout.String() != "v\n" {
		t.Fatalf("%v %q", err, s.stdout)
	}
}

func TestGetRunWholeSecretPiped(t *testing.T) {
	b := startBao(t)
	b.put(t, "foundry/grafana", map[string]any{"admin_password": "pw", "admin_user": "admin"})
	s := newStreams()
	o := getOpts(t, s, b, rootToken)
	o.Key, o.Yes = "", true
	if err := getRun(o); err != nil {
		t.Fatal(err)
	}
	if want := "admin_password\tpw\nadmin_user\tadmin\n"; s.stdout.String() != want {
		t.Fatalf("stdout %q, want %q", s.stdout, want)
	}
}

func TestGetRunWholeSecretJSON(t *testing.T) {
	b := startBao(t)
	b.put(t, "foundry/grafana", map[string]any{"admin_password": "pw"})
	s := newStreams()
	o := getOpts(t, s, b, rootToken)
	o.Key, o.Yes, o.JSON = "", true, true
	if err := getRun(o); err != nil {
		t.Fatal(err)
	}
	var got secretJSON
	if err := json.Unmarshal(s.stdout.Bytes(), &got); err != nil || got.Version != 1 || got.Data["admin_password"] != "pw" {
		t.Fatalf("%v %+v", err, got)
	}
}

func TestGetRunFailuresSayWhatToDo(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, o *GetOptions)
		kind    error
		mention []string
	}{
		{"not found", func(t *testing.T, o *GetOptions) {}, secrets.ErrNotFound,
			[]string{"environment variable FOUNDRY_SECRET_foundry_grafana_admin_password", ".foundryvars", "OpenBAO at", "foundry secret set foundry/grafana --key admin_password"}},
		{"unreachable", func(t *testing.T, o *GetOptions) {
			addr := deadAddress(t)
			o.Bao = func() (*secrets.BaoClient, error) {
				return secrets.NewBaoClient(secrets.BaoOptions{Address: addr, Token: rootToken})
			}
		}, secrets.ErrUnreachable, []string{"connection refused", "BAO_ADDR"}},
		{"sealed", func(t *testing.T, o *GetOptions) {
			b := startBao(t)
			b.srv.Seal()
			o.Bao = b.client(t, rootToken)
		}, secrets.ErrSealed, []string{"bao operator unseal"}},
		{"token without permission", func(t *testing.T, o *GetOptions) {
			b := startBao(t)
			b.srv.AddToken("app", openbao.Policy{Name: "app-only", Rules: []openbao.Rule{{Path: "secret/data/app/*", Capabilities: []string{"read"}}}})
			o.Bao = b.client(t, "app")
		}, secrets.ErrPermissionDenied, []string{"app-only", "foundry secret login"}},
		{"bad token", func(t *testing.T, o *GetOptions) {
			b := startBao(t)
			o.Bao = b.client(t, "expired")
		}, secrets.ErrTokenInvalid, []string{"foundry secret login"}},
		{"no token", func(t *testing.T, o *GetOptions) {
			b := startBao(t)
			o.Bao = b.client(t, "")
		}, secrets.ErrNoToken, []string{"foundry secret login"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := startBao(t)
			s := newStreams()
			o := getOpts(t, s, b, rootToken)
			o.Yes = true
			c.setup(t, o)
			err := getRun(o)
			if !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			for _, m := range c.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if s.stdout.Len() != 0 {
				t.Fatalf("printed %q on failure", s.stdout)
			}
		})
	}
}
