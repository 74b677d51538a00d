package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
)

func TestAddFlags(t *testing.T) {
	for args, want := range map[string]string{
		"":                            "name at least one host",
		"h1 --password-stdin --key k": "cannot be used together",
		"h1 h2 --id x":                "--id works with exactly one host",
		"h1 --parallel 0":             "--parallel must be",
		"h1 --port 70000":             "--port must be",
	} {
		ios, _, _, _ := cmdutil.Test()
		cmd := NewCmdAdd(&cmdutil.Factory{IO: ios}, func(context.Context, *AddOptions) error { return nil })
		cmd.SetArgs(strings.Fields(args))
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", args, err, want)
		}
	}
}

func TestTargetsFromArgsAndFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(f, []byte("# fleet\n10.0.0.5 web-5\n\nNode7.example.com   # comment\n"), 0o644)
	o := &AddOptions{Hosts: []string{"10.0.0.4"}, FromFile: f}
	got, err := o.targets()
	if err != nil {
		t.Fatal(err)
	}
	want := []target{{address: "10.0.0.4", id: "10-0-0-4"}, {address: "10.0.0.5", id: "web-5"}, {address: "Node7.example.com", id: "node7-example-com"}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v want %+v", i, got[i], want[i])
		}
	}
	for content, wantErr := range map[string]string{
		"a b c\n":                  "want \"address [id]\"",
		"10.0.0.1 x\n10.0.0.2 x\n": "appears twice",
		"10.0.0.1 Bad.Id\n":        "invalid host id",
	} {
		os.WriteFile(f, []byte(content), 0o644)
		if _, err := (&AddOptions{FromFile: f}).targets(); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: %v, want %q", content, err, wantErr)
		}
	}
}
