package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// ValidateOptions are the inputs of `config validate`.
type ValidateOptions struct {
	IO *cmdutil.IOStreams
	selector
	JSON bool
	// Resolver builds the chain that checks the config's secret
	// references (environment, ~/.foundryvars, OpenBAO); nil skips the
	// check.
	Resolver func(ctx context.Context, cfg *stackconfig.Config) (*secrets.Resolver, error)
	Ctx      context.Context
}

// NewCmdValidate is `foundry config validate`: print every problem in the
// selected config and exit non-zero if any is an error.
func NewCmdValidate(f *cmdutil.Factory, runF func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IO, selector: newSelector(f), Resolver: DefaultResolver(f)}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the stack config and print every problem",
		Long: `Check the selected stack config against the schema and Foundry's rules
(names, addresses, versions, component dependencies, secret references)
and print every problem as file:line:col. Each secret reference is looked
up (environment, ~/.foundryvars, then OpenBAO) and validate says which
source answers it, never the value; one nothing answers is a warning.
Warnings do not fail the check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return validateRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

type validateJSON struct {
	File       string                 `json:"file"`
	Valid      bool                   `json:"valid"`
	Errors     []stackconfig.Problem  `json:"errors"`
	Warnings   []stackconfig.Problem  `json:"warnings"`
	References []stackconfig.RefCheck `json:"references,omitempty"`
}

func validateRun(o *ValidateOptions) error {
	sel, err := o.selection()
	if err != nil {
		return err
	}
	var ps stackconfig.Problems
	f, err := stackconfig.Load(sel.Path)
	switch {
	case errors.As(err, &ps): // not YAML at all: the syntax problem is the result
	case err != nil:
		return err
	default:
		ps = f.Validate()
	}
	var refs []stackconfig.RefCheck
	if f != nil && o.Resolver != nil {
		var more stackconfig.Problems
		refs, more, err = checkRefs(o, f)
		if err != nil {
			return err
		}
		ps = append(ps, more...)
	}
	errs, warns := ps.Errors(), ps.Warnings()
	if o.JSON {
		out := validateJSON{File: sel.Path, Valid: len(errs) == 0, Errors: nonNil(errs), Warnings: nonNil(warns), References: refs}
		if err := cmdutil.WriteJSON(o.IO.Out, out); err != nil {
			return err
		}
	} else {
		for _, p := range ps {
			fmt.Fprintln(o.IO.Out, p.String())
		}
		printRefs(o.IO, refs)
		if len(ps) == 0 {
			fmt.Fprintf(o.IO.Out, "%s: valid\n", sel.Path)
		} else {
			fmt.Fprintf(o.IO.ErrOut, "%s: %s, %s\n", sel.Path, plural(len(errs), "error"), plural(len(warns), "warning"))
		}
	}
	if len(errs) > 0 {
		return cmdutil.ErrSilent
	}
	return nil
}

func nonNil(ps stackconfig.Problems) []stackconfig.Problem {
	if ps == nil {
		return []stackconfig.Problem{}
	}
	return ps
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
