// Package events holds the `foundry events` verbs.
package events

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// NewCmdEvents is the `events` noun.
func NewCmdEvents(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "events <verb>", Short: "Read the fleet's event stream"}
	cmd.AddCommand(NewCmdTail(f, nil), NewCmdList(f, nil))
	return cmd
}

// Options are the flags shared by `events tail` and `events list`.
type Options struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	Since   time.Duration
	Host    string
	Type    string
	JSON    bool
	Follow  bool
}

// NewCmdTail is `foundry events tail`: live events, optionally starting
// with history.
func NewCmdTail(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Connect: f.Connect, Follow: true}
	cmd := &cobra.Command{
		Use:   "tail [--since DURATION] [--host ID] [--type TYPE]",
		Short: "Follow events as they happen (Ctrl-C to stop)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return validateAndRun(cmd, opts, runF) },
	}
	addFlags(cmd, opts, 0)
	return cmd
}

// NewCmdList is `foundry events list`: history up to now, then exit.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "list [--since DURATION] [--host ID] [--type TYPE]",
		Short: "Print past events and exit",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return validateAndRun(cmd, opts, runF) },
	}
	addFlags(cmd, opts, time.Hour)
	return cmd
}

func addFlags(cmd *cobra.Command, o *Options, since time.Duration) {
	cmd.Flags().DurationVar(&o.Since, "since", since, "include events from this long ago")
	cmd.Flags().StringVar(&o.Host, "host", "", "only events about this host id")
	cmd.Flags().StringVar(&o.Type, "type", "", "only events of this type (e.g. host_offline, cmd_refused)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object per line")
}

func validateAndRun(cmd *cobra.Command, o *Options, runF func(context.Context, *Options) error) error {
	if o.Since < 0 {
		return cmdutil.FlagErrorf("--since must be positive, e.g. 10m")
	}
	if _, err := messages.EventFilter(o.Host, o.Type); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	if runF != nil {
		return runF(cmd.Context(), o)
	}
	return run(cmd.Context(), o)
}

func run(ctx context.Context, o *Options) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Events(ctx, client.EventQuery{Host: o.Host, Type: o.Type, Since: o.Since, Follow: o.Follow},
		func(ev messages.Event) error { return printEvent(o, ev) })
}

// printEvent writes one line per event as it arrives: JSON lines, or
// fixed-width columns (a streaming table cannot be aligned after the fact).
func printEvent(o *Options, ev messages.Event) error {
	if o.JSON {
		return cmdutil.WriteJSONLine(o.IO.Out, ev)
	}
	ts := time.UnixMilli(ev.Time)
	msg := ev.Message
	if ev.RequestID != "" {
		msg += " (request " + ev.RequestID + ")"
	}
	if o.IO.IsStdoutTTY() {
		_, err := fmt.Fprintf(o.IO.Out, "%s  %-14s %-16s %-8s %s\n", ts.Format("15:04:05.000"), ev.Host, ev.Type, ev.Severity, msg)
		return err
	}
	_, err := fmt.Fprintln(o.IO.Out, strings.Join([]string{ts.UTC().Format(time.RFC3339Nano), ev.Host, ev.Type, ev.Severity, msg}, "\t"))
	return err
}
