package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

// ListOptions are the inputs of `config list`.
type ListOptions struct {
	IO *cmdutil.IOStreams
	selector
	JSON bool
}

// NewCmdList is `foundry config list`: the configs in Foundry's home and
// which one commands would use, and why.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, selector: newSelector(f)}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stack configs and mark the selected one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the list as JSON")
	return cmd
}

type listEntry struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	Selected bool   `json:"selected"`
	Reason   string `json:"reason,omitempty"`
}

func listRun(o *ListOptions) error {
	home, err := o.Home()
	if err != nil {
		return err
	}
	files, err := stackconfig.List(home)
	if err != nil {
		return err
	}
	// A selection error (several configs, none chosen) is not an error
	// for listing: nothing is marked.
	sel, selErr := o.selection()
	var entries []listEntry
	for _, p := range files {
		entries = append(entries, listEntry{Name: strings.TrimSuffix(filepath.Base(p), ".yaml"), Path: p})
	}
	if selErr == nil {
		found := false
		for i := range entries {
			if sameFile(entries[i].Path, sel.Path) {
				entries[i].Selected, entries[i].Reason, found = true, sel.Reason, true
			}
		}
		if !found { // chosen with --config outside home
			entries = append(entries, listEntry{Name: strings.TrimSuffix(filepath.Base(sel.Path), ".yaml"), Path: sel.Path, Selected: true, Reason: sel.Reason})
		}
	}
	if o.JSON {
		if entries == nil {
			entries = []listEntry{}
		}
		return cmdutil.WriteJSON(o.IO.Out, entries)
	}
	if len(entries) == 0 {
		if o.IO.IsStdoutTTY() {
			fmt.Fprintf(o.IO.ErrOut, "No stack configs in %s; run `foundry config init` to create one.\n", home)
		}
		return nil
	}
	t := cmdutil.NewTable(o.IO, "NAME", "PATH", "SELECTED")
	for _, e := range entries {
		mark := ""
		if e.Selected {
			mark = "* (" + e.Reason + ")"
		}
		t.Row(e.Name, e.Path, mark)
	}
	if err := t.Render(); err != nil {
		return err
	}
	if selErr != nil && len(entries) > 1 && o.IO.IsStdoutTTY() {
		fmt.Fprintf(o.IO.ErrOut, "None selected: choose one with --config NAME or %s=NAME.\n", stackconfig.EnvConfig)
	}
	return nil
}

func sameFile(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
