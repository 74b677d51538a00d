package secret

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// GetOptions are the inputs of `secret get`.
type GetOptions struct {
	IO  *cmdutil.IOStreams
	Ctx context.Context
	// Bao is OpenBAO with Foundry's token.
	Bao func() (*secrets.BaoClient, error)
	// LookupEnv and VarsPath feed the environment and ~/.foundryvars
	// sources, so `get path:key` shows what Foundry itself would use.
	LookupEnv func(string) (string, bool)
	VarsPath  func() (string, error)

	Path string
	Key  string // empty: every key of Path, from OpenBAO
	Yes  bool
	JSON bool
}

// NewCmdGet is `foundry secret get`: print one value (path:key) or every
// key of a secret (path), after confirmation.
func NewCmdGet(f *cmdutil.Factory, runF func(*GetOptions) error) *cobra.Command {
	d := newDeps(f)
	opts := &GetOptions{IO: f.IO, Bao: d.bao, LookupEnv: d.lookupEnv, VarsPath: d.varsPath}
	cmd := &cobra.Command{
		Use:   "get <path:key | path>",
		Short: "Print a secret's value (asks first)",
		Long: `Print a secret's value.

With path:key, the value is resolved the way Foundry resolves references:
environment variable FOUNDRY_SECRET_..., then ~/.foundryvars, then OpenBAO;
the source is named on stderr. With a bare path, every key of that OpenBAO
secret is printed. Values go to the terminal only after you confirm; without
a terminal, pass --yes.`,
		Example: `  foundry secret get foundry/grafana:admin_password
  foundry secret get foundry/truenas --yes --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := parseTarget(args[0], &opts.Path, &opts.Key); err != nil {
				return err
			}
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "print without asking")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

// parseTarget reads "path" or "path:key".
func parseTarget(arg string, path, key *string) error {
	if strings.Contains(arg, ":") {
		r, err := secrets.ParsePathKey(arg)
		var re *secrets.RefError
		if errors.As(err, &re) {
			return cmdutil.FlagErrorf("%q is not path/to/secret:key: %s", arg, re.Reason)
		}
		if err != nil {
			return &cmdutil.FlagError{Err: err}
		}
		*path, *key = r.Path, r.Key
		return nil
	}
	if reason := secrets.ValidPath(arg); reason != "" {
		return cmdutil.FlagErrorf("secret path %q: %s", arg, reason)
	}
	*path = arg
	return nil
}

type valueJSON struct {
	Path   string `json:"path"`
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

type secretJSON struct {
	Path    string            `json:"path"`
	Version int               `json:"version"`
	Data    map[string]string `json:"data"`
}

func getRun(o *GetOptions) error {
	target := o.Path
	if o.Key != "" {
		target += ":" + o.Key
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Print the value of %s?", target)); err != nil {
		return err
	}
	if o.Key != "" {
		return getValue(o)
	}
	return getSecret(o)
}

func getValue(o *GetOptions) error {
	bao, err := o.Bao()
	if errors.Is(err, errNoAddress) {
		bao, err = nil, nil // env and ~/.foundryvars may still have it
	}
	if err != nil {
		return err
	}
	vars, err := o.VarsPath()
	if err != nil {
		return err
	}
	r := &secrets.Resolver{Sources: []secrets.Source{
		secrets.EnvSource{LookupEnv: o.LookupEnv},
		&secrets.VarsSource{Path: vars},
		secrets.BaoSource{Client: bao},
	}}
	res, err := r.ResolveFrom(ctxOf(o.Ctx), secrets.Ref{Path: o.Path, Key: o.Key})
	if err != nil {
		return err
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, valueJSON{Path: o.Path, Key: o.Key, Value: res.Value, Source: res.Source})
	}
	if o.IO.IsStdoutTTY() {
		fmt.Fprintf(o.IO.ErrOut, "(from %s)\n", res.Source)
	}
	_, err = fmt.Fprintln(o.IO.Out, res.Value)
	return err
}

func getSecret(o *GetOptions) error {
	bao, err := o.Bao()
	if err != nil {
		return err
	}
	s, err := bao.KVGet(ctxOf(o.Ctx), o.Path)
	if err != nil {
		return err
	}
	data := map[string]string{}
	for k, v := range s.Data {
		data[k] = fmt.Sprint(v)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, secretJSON{Path: o.Path, Version: s.Version, Data: data})
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t := cmdutil.NewTable(o.IO, "KEY", "VALUE")
	for _, k := range keys {
		t.Row(k, data[k])
	}
	return t.Render()
}
