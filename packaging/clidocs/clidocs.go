// Package clidocs turns the foundry command tree into its reference: one
// Markdown page per command (docs/cli, checked in and kept fresh by a
// test), man pages and shell completions (shipped in the .deb). Everything
// comes from the cobra tree, so a new noun is documented by regenerating
// (`make docs`), never by hand.
package clidocs

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/root"
)

// EnvDefaults are the variables whose values become flag defaults. The
// reference must not depend on who generated it: whoever calls Tree clears
// them first (gendocs does; tests use t.Setenv).
var EnvDefaults = []string{"FOUNDRY_CONTROLLER", "FOUNDRY_CREDS", "FOUNDRY_CA", "FOUNDRY_CONFIG", "FOUNDRY_HOME"}

// Tree builds the command tree the way a user sees it.
func Tree() *cobra.Command {
	ios, _, _, _ := cmdutil.Test()
	f := root.NewFactory(ios, slog.New(slog.DiscardHandler), "")
	cmd := root.NewCmdRoot(f)
	// A generated page must not carry the day it was generated.
	walk(cmd, func(c *cobra.Command) { c.DisableAutoGenTag = true })
	// cobra adds these lazily on Execute; the reference lists them too.
	cmd.InitDefaultHelpCmd()
	cmd.InitDefaultCompletionCmd()
	return cmd
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// Markdown writes one page per command into dir, which it empties first
// so a removed command loses its page.
func Markdown(cmd *cobra.Command, dir string) error {
	if err := resetDir(dir, ".md"); err != nil {
		return err
	}
	prepend := func(string) string {
		return "<!-- Generated from the command tree by `make docs`; do not edit. -->\n\n"
	}
	link := func(name string) string { return name }
	if err := doc.GenMarkdownTreeCustom(cmd, dir, prepend, link); err != nil {
		return fmt.Errorf("generate markdown reference in %s: %w", dir, err)
	}
	return nil
}

// Man writes section-1 man pages into dir, dated by date (the commit's
// time, so packages built twice from one commit are identical).
func Man(cmd *cobra.Command, dir string, date time.Time) error {
	if err := resetDir(dir, ".1"); err != nil {
		return err
	}
	d := date.UTC()
	h := &doc.GenManHeader{Title: "FOUNDRY", Section: "1", Date: &d, Source: "Foundry", Manual: "Foundry Manual"}
	if err := doc.GenManTree(cmd, h, dir); err != nil {
		return fmt.Errorf("generate man pages in %s: %w", dir, err)
	}
	return nil
}

// Completions writes the bash, zsh and fish completion scripts into dir
// under the names and places Debian's shells look for them
// (bash-completion/completions/foundry, zsh/vendor-completions/_foundry,
// fish/vendor_completions.d/foundry.fish, relative to dir).
func Completions(cmd *cobra.Command, dir string) error {
	files := []struct {
		path string
		gen  func(*bytes.Buffer) error
	}{
		{"bash-completion/completions/foundry", func(b *bytes.Buffer) error { return cmd.GenBashCompletionV2(b, true) }},
		{"zsh/vendor-completions/_foundry", func(b *bytes.Buffer) error { return cmd.GenZshCompletion(b) }},
		{"fish/vendor_completions.d/foundry.fish", func(b *bytes.Buffer) error { return cmd.GenFishCompletion(b, true) }},
	}
	for _, f := range files {
		var b bytes.Buffer
		if err := f.gen(&b); err != nil {
			return fmt.Errorf("generate %s: %w", f.path, err)
		}
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// resetDir creates dir and removes the files with suffix it holds.
func resetDir(dir, suffix string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		return err
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// Diff compares the checked-in pages in want with freshly generated ones
// in got and names every page that differs, is missing or is left over.
func Diff(want, got string) []string {
	names := func(dir string) map[string][]byte {
		m := map[string][]byte{}
		paths, _ := filepath.Glob(filepath.Join(dir, "*.md"))
		for _, p := range paths {
			b, _ := os.ReadFile(p)
			m[filepath.Base(p)] = b
		}
		return m
	}
	w, g := names(want), names(got)
	var out []string
	for n, b := range g {
		old, ok := w[n]
		switch {
		case !ok:
			out = append(out, n+" (missing)")
		case !bytes.Equal(old, b):
			out = append(out, n+" (differs)")
		}
	}
	for n := range w {
		if _, ok := g[n]; !ok {
			out = append(out, n+" (no such command)")
		}
	}
	sort.Strings(out)
	return out
}
