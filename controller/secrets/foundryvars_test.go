package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseVarsSeedExample(t *testing.T) {
	in := `# Map namespaced OpenBAO paths to local values
# Format: namespace/path/to/secret:key=value
myservice-stable/database/prod:password=my_local_dev_password
myservice-toy/database/prod:password=toy_password
foundry/truenas:api_key=local_truenas_key

external/github:api_token=ghp_localdevtoken123
  spaced/path:key  =  value with = sign  
`
	got, err := ParseVars(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"myservice-stable/database/prod:password": "my_local_dev_password",
		"myservice-toy/database/prod:password":    "toy_password",
		"foundry/truenas:api_key":                 "local_truenas_key",
		"external/github:api_token":               "ghp_localdevtoken123",
		"spaced/path:key":                         "value with = sign",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestParseVarsReportsEveryBadLineWithoutValues(t *testing.T) {
	in := strings.Join([]string{
		"good/path:key=fine",          // 1
		"no-equals-sign-hunter2",      // 2
		"missing/key=hunter2",         // 3
		"bad path:key=hunter2",        // 4
		"empty/value:key=",            // 5
		"# comment",                   // 6
		"good/path:key=again-hunter2", // 7 duplicate
		"a//b:key=hunter2",            // 8
	}, "\n")
	_, err := ParseVars(strings.NewReader(in))
	var ve *VarsError
	if !errors.As(err, &ve) || !errors.Is(err, ErrMalformedVars) {
		t.Fatalf("err = %v, want *VarsError wrapping ErrMalformedVars", err)
	}
	var lines []int
	for _, l := range ve.Lines {
		lines = append(lines, l.Line)
	}
	if got := fmt.Sprint(lines); got != "[2 3 4 5 7 8]" {
		t.Fatalf("bad lines %v, want [2 3 4 5 7 8]", lines)
	}
	msg := err.Error()
	if strings.Contains(msg, "hunter2") {
		t.Fatalf("error leaks a value: %s", msg)
	}
	if !strings.Contains(msg, "namespace/path:key=value") {
		t.Fatalf("error does not say the expected format: %s", msg)
	}
}

func TestVarsSourceMissingFileHasNothing(t *testing.T) {
	src := &VarsSource{Path: filepath.Join(t.TempDir(), ".foundryvars")}
	v, found, err := src.Lookup(context.Background(), Ref{"a", "b"})
	if err != nil || found || v != "" {
		t.Fatalf("missing file: %q %v %v", v, found, err)
	}
}

func TestVarsSourceMalformedFileIsAnErrorNamingTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".foundryvars")
	if err := os.WriteFile(p, []byte("ok/p:k=v\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := (&VarsSource{Path: p}).Lookup(context.Background(), Ref{"ok/p", "k"})
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want file path and line 2", err)
	}
}

func FuzzParseVars(f *testing.F) {
	f.Add("a/b:c=d\n# x\n\nns/p:k=v=w\n")
	f.Add("broken\n=\n:=x\na:b=\n")
	f.Add(strings.Repeat("a", 100) + ":k=v")
	f.Fuzz(func(t *testing.T, in string) {
		vars, err := ParseVars(strings.NewReader(in))
		if err != nil {
			var ve *VarsError
			if !errors.As(err, &ve) || len(ve.Lines) == 0 {
				t.Fatalf("error %v is not a VarsError with lines", err)
			}
			return
		}
		for k, v := range vars {
			if v == "" {
				t.Fatalf("empty value accepted for %q", k)
			}
			if _, err := ParsePathKey(k); err != nil {
				t.Fatalf("accepted bad name %q: %v", k, err)
			}
		}
	})
}
