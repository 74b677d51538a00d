package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func homeWith(t *testing.T, names ...string) string {
	t.Helper()
	home := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(home, n), []byte(minimal), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func TestSelectFlagBeatsEnv(t *testing.T) {
	home := homeWith(t, "prod.yaml", "staging.yaml")
	got, err := Select("/etc/x.yaml", "staging", home)
	if err != nil || got != "/etc/x.yaml" {
		t.Fatalf("got %q %v", got, err)
	}
	got, err = Select("", "staging", home)
	if err != nil || got != filepath.Join(home, "staging.yaml") {
		t.Fatalf("env: got %q %v", got, err)
	}
	got, err = Select("prod", "staging", home)
	if err != nil || got != filepath.Join(home, "prod.yaml") {
		t.Fatalf("flag name: got %q %v", got, err)
	}
	got, err = Select("prod.yaml", "", home)
	if err != nil || got != "prod.yaml" {
		t.Fatalf("a .yaml value is a path: got %q %v", got, err)
	}
}

func TestSelectSeveralConfigsIsAmbiguous(t *testing.T) {
	home := homeWith(t, "prod.yaml", "staging.yaml", "notes.txt", ".hidden.yaml")
	_, err := Select("", "", home)
	if !errors.Is(err, ErrAmbiguousConfig) {
		t.Fatalf("err = %v, want ErrAmbiguousConfig", err)
	}
	for _, want := range []string{"prod, staging", "--config NAME", "FOUNDRY_CONFIG"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestSelectOnlyConfigIsUsed(t *testing.T) {
	home := homeWith(t, "prod.yaml", "notes.txt")
	s, err := SelectWithReason("", "", home)
	if err != nil || s.Path != filepath.Join(home, "prod.yaml") || !strings.Contains(s.Reason, "only config") {
		t.Fatalf("got %+v %v", s, err)
	}
}

func TestSelectNoConfigSaysRunInit(t *testing.T) {
	for _, home := range []string{homeWith(t), filepath.Join(t.TempDir(), "missing")} {
		_, err := Select("", "", home)
		if !errors.Is(err, ErrNoConfig) || !strings.Contains(err.Error(), "foundry config init") {
			t.Errorf("%s: err = %v", home, err)
		}
	}
}

func TestListSkipsNonYAML(t *testing.T) {
	home := homeWith(t, "b.yaml", "a.yaml", "c.yml", "x.txt")
	if err := os.Mkdir(filepath.Join(home, "dir.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := List(home)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || filepath.Base(got[0]) != "a.yaml" || filepath.Base(got[1]) != "b.yaml" {
		t.Fatalf("List = %v", got)
	}
}
