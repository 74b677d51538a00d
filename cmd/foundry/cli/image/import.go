package image

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/oci"
)

// ImportOptions are the arguments and flags of `image import`.
type ImportOptions struct {
	IO       *cmdutil.IOStreams
	Paths    []string
	Registry string // --registry host:port; "" finds the stack's
	DryRun   bool
	JSON     bool
	// StackRegistry finds the stack's registry when --registry is not
	// given (FOUNDRY_REGISTRY, else components.zot.hosts).
	StackRegistry func(context.Context) (helm.Registry, error)
}

// NewCmdImport is `foundry image import <oci-layout-dir|image.tar>...`.
func NewCmdImport(f *cmdutil.Factory, runF func(context.Context, *ImportOptions) error) *cobra.Command {
	env := clicomp.NewEnv(f)
	o := &ImportOptions{IO: f.IO, StackRegistry: func(ctx context.Context) (helm.Registry, error) { return env.StackRegistry(ctx, nil) }}
	cmd := &cobra.Command{
		Use:   "import <oci-layout-dir|image.tar>...",
		Short: "Push saved container images into the stack's registry",
		Long: `Push images saved elsewhere (crane pull --format=oci <image> <dir>, or
docker save <image> -o image.tar) into the stack's registry, under the names
the registry mirror serves them by: docker.io/grafana/grafana:13.2.0 becomes
<registry>/grafana/grafana:13.2.0. foundry stack images lists the images the
stack needs. Images whose digest the registry already has are skipped, so a
re-run only pushes what is missing.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Paths = args
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return importRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Registry, "registry", "", "registry host:port (default: the stack's, from components.zot.hosts or $FOUNDRY_REGISTRY)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "say what would be pushed; push nothing")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func importRun(ctx context.Context, o *ImportOptions) error {
	var imgs []oci.Image
	for _, p := range o.Paths {
		got, err := oci.Load(p)
		if err != nil {
			return err
		}
		imgs = append(imgs, got...)
	}
	reg, err := o.registry(ctx)
	if err != nil {
		return err
	}
	var results []oci.Result
	for i, img := range imgs {
		fmt.Fprintf(o.IO.ErrOut, "[%d/%d] %s (%s)\n", i+1, len(imgs), img.Name(), img.Source)
		res, err := oci.Push(ctx, reg, []oci.Image{img}, oci.Options{DryRun: o.DryRun, Progress: o.progress()})
		if o.IO.IsStdoutTTY() {
			fmt.Fprint(o.IO.ErrOut, "\r\033[K")
		}
		if err != nil {
			_ = o.print(results)
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "[%d/%d] %s: %s %s\n", i+1, len(imgs), res[0].Target, res[0].Status, res[0].Digest)
		results = append(results, res...)
	}
	return o.print(results)
}

func (o *ImportOptions) registry(ctx context.Context) (helm.Registry, error) {
	if o.Registry != "" {
		if _, _, err := net.SplitHostPort(o.Registry); err != nil {
			return helm.Registry{}, cmdutil.FlagErrorf("--registry %q: %v; pass host:port", o.Registry, err)
		}
		return helm.Registry{Host: o.Registry, PlainHTTP: true}, nil
	}
	if o.StackRegistry == nil {
		return helm.Registry{}, cmdutil.FlagErrorf("no stack registry is known; pass --registry host:port")
	}
	return o.StackRegistry(ctx)
}

// progress prints bytes pushed for the current image on a terminal,
// at most ten times a second.
func (o *ImportOptions) progress() func(oci.Progress) {
	if !o.IO.IsStdoutTTY() || o.JSON {
		return nil
	}
	var mu sync.Mutex
	var last time.Time
	return func(p oci.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); p.Complete >= p.Size || now.Sub(last) >= 100*time.Millisecond {
			last = now
			fmt.Fprintf(o.IO.ErrOut, "\r\033[K  %s / %s", cmdutil.Bytes(uint64(p.Complete)), cmdutil.Bytes(uint64(p.Size)))
		}
	}
}

func (o *ImportOptions) print(results []oci.Result) error {
	if o.JSON {
		if results == nil {
			results = []oci.Result{}
		}
		return cmdutil.WriteJSON(o.IO.Out, results)
	}
	t := cmdutil.NewTable(o.IO, "IMAGE", "TARGET", "DIGEST", "STATUS")
	for _, r := range results {
		t.Row(r.Image, r.Target, r.Digest, r.Status)
	}
	return t.Render()
}
