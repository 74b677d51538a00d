package storage

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/installer/truenas"
)

// TestOptions are the inputs of `storage test`.
type TestOptions struct {
	IO   *cmdutil.IOStreams
	Ctx  context.Context
	Deps Deps
	JSON bool
}

// NewCmdTest is `foundry storage test`.
func NewCmdTest(f *cmdutil.Factory, runF func(*TestOptions) error) *cobra.Command {
	opts := &TestOptions{IO: f.IO, Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Check that TrueNAS answers, is trusted, accepts the key and lets it write",
		Long: `Check the configured TrueNAS step by step and report each step:

  reachability    the API's TCP port accepts connections
  tls             its certificate verifies (system roots, or storage.truenas.ca_file)
  authentication  the API key is accepted (GET /api/v2.0/system/info)
  permissions     a throw-away dataset (foundry-check-<random>) can be created
                  under storage.truenas.dataset (default: the first pool) and deleted

The first failing step says what to fix; later steps are not run. The exit
code is non-zero when a step fails.`,
		Example: `  foundry storage test
  foundry storage test --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return testRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the steps as JSON")
	return cmd
}

// testResult is `storage test --json`.
type testResult struct {
	APIURL string         `json:"api_url"`
	APIKey keySource      `json:"api_key"`
	OK     bool           `json:"ok"`
	Steps  []truenas.Step `json:"steps"`
}

func testRun(o *TestOptions) error {
	ctx := o.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	f, t, err := o.Deps.loadTrueNAS()
	if err != nil {
		return err
	}
	c, src, err := o.Deps.client(ctx, &f.Config, *t)
	if err != nil {
		return err
	}
	steps := c.Check(ctx, truenas.CheckOptions{Permissions: true, Parent: t.Dataset})
	res := testResult{APIURL: t.APIURL, APIKey: src, OK: !truenas.Failed(steps), Steps: steps}
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.IO.ErrOut, "TrueNAS at %s, API key %s from %s\n", t.APIURL, src.Ref, src.Source)
		if err := printSteps(o.IO, steps); err != nil {
			return err
		}
	}
	if !res.OK {
		s := firstFailure(steps)
		return fmt.Errorf("storage test failed at %s: %s", s.Name, s.Reason)
	}
	return nil
}
