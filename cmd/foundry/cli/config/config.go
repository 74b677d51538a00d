// Package config is the `foundry config` noun: create, validate, show and
// list stack configuration files in Foundry's home.
package config

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

// NewCmdConfig is `foundry config`.
func NewCmdConfig(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config <verb>",
		Short: "Create, validate, show and list stack configs",
		Long: `Stack configs live in Foundry's home (~/.foundry/<name>.yaml). With more
than one, choose with --config NAME or FOUNDRY_CONFIG=NAME; Foundry never
picks one for you.`,
	}
	cmd.AddCommand(
		NewCmdInit(f, nil),
		NewCmdValidate(f, nil),
		NewCmdShow(f, nil),
		NewCmdList(f, nil),
	)
	return cmd
}

// selector is what every verb needs to find the config: the home
// directory, the --config flag and the environment.
type selector struct {
	Home       func() (string, error)
	ConfigPath func() string
	Getenv     func(string) string
}

func newSelector(f *cmdutil.Factory) selector {
	cp := f.ConfigPath
	if cp == nil {
		cp = func() string { return "" }
	}
	return selector{Home: f.Home, ConfigPath: cp, Getenv: os.Getenv}
}

// selection picks the config file the way every verb must.
func (s selector) selection() (stackconfig.Selection, error) {
	home, err := s.Home()
	if err != nil {
		return stackconfig.Selection{}, err
	}
	return stackconfig.SelectWithReason(s.ConfigPath(), s.Getenv(stackconfig.EnvConfig), home)
}
