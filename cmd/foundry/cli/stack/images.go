package stack

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
)

// NewCmdImages is `foundry stack images`.
func NewCmdImages(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, o := verb(f, "images", "List every container image the configured charts pull, as mirrored and as upstream names them", imagesRun, runF)
	cmd.Long = `List every container image the stack's cluster components will pull: each
configured component's imported chart rendered with the config's values, as
the cluster pulls it (through the stack's registry mirror) and as upstream
names it. On a machine with internet, pull the ORIGINAL column
(crane pull --format=oci <original> <dir>), then foundry image import <dir>.`
	o.Env = o.Env.Wired()
	return cmd
}

func imagesRun(ctx context.Context, o *Options) error {
	cfg, err := o.Stack()
	if err != nil {
		return err
	}
	mirror := o.Env.Cluster.Mirror
	if mirror == "" {
		reg, err := o.StackRegistry(ctx, nil)
		switch {
		case errors.Is(err, clicomp.ErrNoRegistry):
			fmt.Fprintf(o.IO.ErrOut, "no registry mirror: images are listed as the charts name them (%v)\n", err)
		case err != nil:
			return err
		default:
			mirror = reg.Host
		}
	}
	rows, err := o.ClusterImages(ctx, cfg, mirror)
	if err != nil {
		return err
	}
	if o.JSON {
		if rows == nil {
			rows = []clicomp.ImageRow{}
		}
		return cmdutil.WriteJSON(o.IO.Out, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "the stack config configures no cluster component, so no chart pulls an image")
		return nil
	}
	t := cmdutil.NewTable(o.IO, "COMPONENT", "IMAGE", "ORIGINAL")
	for _, r := range rows {
		orig := r.Original
		if orig == "" {
			orig = "-"
		}
		t.Row(r.Component, r.Image, orig)
	}
	return t.Render()
}
