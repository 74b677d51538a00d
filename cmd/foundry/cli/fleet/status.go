package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	jobcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/job"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/rollout"
	"github.com/foundry-fleet/foundry/messages"
)

// StatusOptions are the flags of `fleet status`.
type StatusOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	Hosts   []string
	Where   string
	Timeout time.Duration
	JSON    bool
	Summary bool
	// Rolling: any of these makes the status a stored job.
	Batch       string
	BatchWait   time.Duration
	MaxFailures string
}

// NewCmdStatus is `foundry fleet status`.
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "status [--host ID]...",
		Short: "Ask hosts for live status; finishes as soon as every expected host answered",
		Long: `Send a signed status command to the targeted hosts and account for each.

Expected hosts are the named ones (--host), or every host in the registry
whatever its state, narrowed by --where (id, state, role, labels and facts;
see docs/targeting.md). A host that is stale, offline or disconnected is
accounted for as missing, with its state and when it was last seen, unless
--where leaves it out (for example --where state=online). The command
returns as soon as each expected host has answered or is known to be
unreachable; --timeout is only an upper bound. Exit code 3 means some
expected hosts are missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, h := range opts.Hosts {
				if err := messages.ValidHostID(h); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			if err := cmdutil.CheckWhere(opts.Where); err != nil {
				return err
			}
			if opts.Timeout <= 0 || opts.Timeout > messages.MaxValidity {
				return cmdutil.FlagErrorf("--timeout must be between 1ms and %s", messages.MaxValidity)
			}
			if opts.rolling() {
				if opts.Batch == "" {
					opts.Batch = "100%"
				}
				if _, err := rollout.ParseBatch(opts.Batch); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
				if opts.MaxFailures != "" {
					if _, err := rollout.ParseMaxFailures(opts.MaxFailures); err != nil {
						return &cmdutil.FlagError{Err: err}
					}
				}
				if opts.BatchWait < 0 {
					return cmdutil.FlagErrorf("--batch-wait must not be negative")
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Hosts, "host", nil, "target only these host ids (repeatable)")
	cmd.Flags().StringVar(&opts.Where, "where", "", `select hosts, e.g. 'role=worker and os_version=12' (see docs/targeting.md)`)
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "upper bound on waiting for answers")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&opts.Summary, "summary", false, "leave each host's status details out of the answer (for fleets of tens of thousands)")
	cmd.Flags().StringVar(&opts.Batch, "batch", "", "run as a rolling job, N hosts or N% per batch")
	cmd.Flags().DurationVar(&opts.BatchWait, "batch-wait", 0, "pause between batches (rolling job)")
	cmd.Flags().StringVar(&opts.MaxFailures, "max-failures", "", "stop the rolling job when more than N or N% hosts failed (default: the first failure stops)")
	return cmd
}

func (o *StatusOptions) rolling() bool {
	return o.Batch != "" || o.BatchWait != 0 || o.MaxFailures != ""
}

func statusRun(ctx context.Context, o *StatusOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	if o.rolling() {
		j, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbStatus, Hosts: o.Hosts, Where: o.Where,
			Batch: o.Batch, BatchWaitMs: o.BatchWait.Milliseconds(), MaxFailures: o.MaxFailures, TimeoutMs: o.Timeout.Milliseconds()})
		if err != nil {
			return fmt.Errorf("start rolling status: %w", err)
		}
		fmt.Fprintf(o.IO.ErrOut, "job %s: %d hosts in %d batches; follow it with: foundry job watch %s\n", j.ID, len(j.Hosts), j.Batches, j.ID)
		return jobcmd.Watch(ctx, o.IO, cl, j.ID, 300*time.Millisecond, o.JSON)
	}
	res, err := cl.FleetStatus(ctx, messages.FleetStatusRequest{Hosts: o.Hosts, Where: o.Where, TimeoutMs: o.Timeout.Milliseconds(), Summary: o.Summary})
	if err != nil {
		return fmt.Errorf("fleet status: %w", err)
	}
	// Nothing to ask is an error, said once: no empty table before it.
	if res.Expected == 0 {
		if o.Where != "" {
			return &cmdutil.ExitCodeError{Code: 1, Err: fmt.Errorf("no host matches --where %q; check `foundry host list`", o.Where)}
		}
		return &cmdutil.ExitCodeError{Code: 1, Err: errors.New("the registry has no hosts to ask; add one with `foundry host add`, or check `foundry host list`")}
	}
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, res); err != nil {
			return err
		}
	} else if err := printStatus(o.IO, res); err != nil {
		return err
	}
	failed := len(res.Missing)
	for _, r := range res.Responded {
		if r.Error != nil {
			failed++
		}
	}
	if failed > 0 {
		return &cmdutil.ExitCodeError{Code: 3, Err: cmdutil.ErrSilent}
	}
	return nil
}

func printStatus(io *cmdutil.IOStreams, res messages.FleetStatusResult) error {
	t := cmdutil.NewTable(io, "HOST", "RESULT", "HOSTNAME", "MACHINE ID", "AGENT", "UPTIME", "LATENCY")
	for _, r := range res.Responded {
		if r.Error != nil {
			t.Row(r.Host, "error: "+r.Error.Code, "-", "-", "-", "-", fmt.Sprintf("%.1fms", r.LatencyMs))
			continue
		}
		s := r.Status
		if s == nil { // --summary
			t.Row(r.Host, "ok", "-", "-", "-", "-", fmt.Sprintf("%.1fms", r.LatencyMs))
			continue
		}
		t.Row(r.Host, "ok", s.Hostname, s.MachineID, s.AgentVersion,
			(time.Duration(s.Facts.Uptime) * time.Second).String(), fmt.Sprintf("%.1fms", r.LatencyMs))
	}
	for _, m := range res.Missing {
		t.Row(m.Host, "missing: "+missingText(m), "-", "-", "-", "-", "-")
	}
	if err := t.Render(); err != nil {
		return err
	}
	// The summary goes to stderr so piped stdout stays one row per host.
	fmt.Fprintf(io.ErrOut, "%d expected, %d responded, %d missing in %.0fms\n",
		res.Expected, len(res.Responded), len(res.Missing), res.ElapsedMs)
	for _, m := range res.Missing {
		fmt.Fprintf(io.ErrOut, "missing: %s (%s)\n", m.Host, missingText(m))
	}
	return nil
}

// missingText is why a host is missing and, when the registry knows it,
// its state and last-seen time: "no reply before timeout; stale, last
// seen 2026-12-03T13:20:01Z".
func missingText(m messages.MissingHost) string {
	if m.State == "" {
		return m.Reason
	}
	return m.Reason + "; " + m.State + ", last seen " + m.LastSeen
}
