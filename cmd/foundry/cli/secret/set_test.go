package secret

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

func runSetCmd(t *testing.T, args ...string) (*SetOptions, error) {
	t.Helper()
	s := newStreams()
	var got *SetOptions
	cmd := NewCmdSet(factory(s, t.TempDir()), func(o *SetOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	return got, cmd.Execute()
}

func TestNewCmdSetRefusesValueAsArgument(t *testing.T) {
	_, err := runSetCmd(t, "foundry/grafana", "hunter2", "--key", "admin_password")
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want FlagError", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "never taken as arguments") || !strings.Contains(msg, "pipe it on stdin") {
		t.Fatalf("message does not say what to do: %s", msg)
	}
	if strings.Contains(msg, "hunter2") {
		t.Fatalf("the refused value is echoed: %s", msg)
	}
}

func TestNewCmdSetParsesPathAndKey(t *testing.T) {
	got, err := runSetCmd(t, "foundry/grafana", "--key", "admin_password")
	if err != nil || got.Path != "foundry/grafana" || got.Key != "admin_password" {
		t.Fatalf("%v %+v", err, got)
	}
	got, err = runSetCmd(t, "foundry/truenas:api_key")
	if err != nil || got.Path != "foundry/truenas" || got.Key != "api_key" {
		t.Fatalf("path:key form: %v %+v", err, got)
	}
	for _, args := range [][]string{
		{"foundry/grafana"},               // no key
		{"foundry/x:a", "--key", "b"},     // two keys
		{"foundry/x", "--key", "bad key"}, // bad key
		{},                                // no path
		{"../etc", "--key", "k"},          // bad path
	} {
		var fe *cmdutil.FlagError
		if _, err := runSetCmd(t, args...); !errors.As(err, &fe) {
			t.Errorf("%v: err = %v, want FlagError", args, err)
		}
	}
}

func TestSetRunReadsStdinAndKeepsOtherKeys(t *testing.T) {
	b := startBao(t)
	b.put(t, "foundry/grafana", map[string]any{"admin_user": "admin"})
	s := newStreams()
	s.in.WriteString("s3cret value\n")
	o := &SetOptions{IO: s.io, Bao: b.client(t, rootToken), Path: "foundry/grafana", Key: "admin_password"}
	if err := setRun(o); err != nil {
		t.Fatal(err)
	}
	want := "Stored foundry/grafana:admin_password in OpenBAO at " + b.url + " (version 2).\n"
	if s.stderr.String() != want || s.stdout.Len() != 0 {
		t.Fatalf("stderr %q stdout %q", s.stderr, s.stdout)
	}
	c, _ := b.client(t, rootToken)()
	got, err := c.KVGet(context.Background(), "foundry/grafana")
	if err != nil || got.Data["admin_password"] != "s3cret value" || got.Data["admin_user"] != "admin" {
		t.Fatalf("%v %+v", err, got)
	}
}

func TestSetRunRejectsMissingOrEmptyValue(t *testing.T) {
	b := startBao(t)
	for in, want := range map[string]string{"": "no value given", "\n": "the value is empty"} {
		s := newStreams()
		s.in.WriteString(in)
		err := setRun(&SetOptions{IO: s.io, Bao: b.client(t, rootToken), Path: "foundry/x", Key: "k"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("stdin %q: err = %v, want %q", in, err, want)
		}
	}
}

func TestSetRunWithReadOnlyToken(t *testing.T) {
	b := startBao(t)
	b.srv.AddToken("reader", openbao.Policy{Name: "read-only", Rules: []openbao.Rule{{Path: "secret/data/*", Capabilities: []string{"read"}}}})
	s := newStreams()
	s.in.WriteString("v\n")
	err := setRun(&SetOptions{IO: s.io, Bao: b.client(t, "reader"), Path: "foundry/x", Key: "k"})
	if !errors.Is(err, secrets.ErrPermissionDenied) || !strings.Contains(err.Error(), "write secret/data/foundry/x") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "\nv") {
		t.Fatal("value leaked into the error")
	}
}
