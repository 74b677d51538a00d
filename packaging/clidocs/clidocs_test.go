package clidocs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func clearEnv(t *testing.T) {
	for _, k := range EnvDefaults {
		t.Setenv(k, "")
	}
}

// TestDocsCLIIsFresh fails when docs/cli no longer matches the command
// tree: a command, flag or help text changed without `make docs`.
func TestDocsCLIIsFresh(t *testing.T) {
	clearEnv(t)
	want := filepath.Join("..", "..", "docs", "cli")
	got := t.TempDir()
	if err := Markdown(Tree(), got); err != nil {
		t.Fatal(err)
	}
	if stale := Diff(want, got); len(stale) > 0 {
		t.Fatalf("docs/cli is stale (%s); regenerate it with `make docs`", strings.Join(stale, ", "))
	}
}

func TestDiffNamesAddedChangedAndRemovedPages(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write := func(dir, name, s string) { os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644) }
	write(a, "same.md", "x")
	write(b, "same.md", "x")
	write(a, "changed.md", "old")
	write(b, "changed.md", "new")
	write(a, "removed.md", "x")
	write(b, "added.md", "x")
	got := Diff(a, b)
	want := []string{"added.md (missing)", "changed.md (differs)", "removed.md (no such command)"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestEveryCommandHasAPageAndNoPageIsDated(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	cmd := Tree()
	if err := Markdown(cmd, dir); err != nil {
		t.Fatal(err)
	}
	n := 0
	var all []*cobra.Command
	walk(cmd, func(c *cobra.Command) {
		if c.IsAvailableCommand() || c == cmd {
			all = append(all, c)
		}
	})
	for _, c := range all {
		n++
		name := strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("no page for %q: %v", c.CommandPath(), err)
		}
		if bytes.Contains(b, []byte("Auto generated")) {
			t.Fatalf("%s carries the generation date", name)
		}
	}
	if n < 40 {
		t.Fatalf("only %d commands", n)
	}
}

func TestManPagesAndCompletions(t *testing.T) {
	clearEnv(t)
	cmd := Tree()
	man, comp := t.TempDir(), t.TempDir()
	date := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if err := Man(cmd, man, date); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(man, "foundry-host-list.1"))
	if err != nil || !bytes.Contains(b, []byte(`"Nov 2026"`)) || !bytes.Contains(b, []byte("--state")) {
		t.Fatalf("%v\n%s", err, b)
	}
	if err := Completions(cmd, comp); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bash-completion/completions/foundry", "zsh/vendor-completions/_foundry", "fish/vendor_completions.d/foundry.fish"} {
		b, err := os.ReadFile(filepath.Join(comp, p))
		if err != nil || !bytes.Contains(b, []byte("foundry")) {
			t.Fatalf("%s: %v", p, err)
		}
	}
}
