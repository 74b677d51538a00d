// Package job holds the `foundry job` verbs: list, show and watch rolling
// jobs stored by the controller.
package job

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// NewCmdJob is the `job` noun.
func NewCmdJob(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "job <verb>", Short: "List, show and watch rolling jobs"}
	cmd.AddCommand(NewCmdList(f, nil), NewCmdShow(f, nil), NewCmdWatch(f, nil))
	return cmd
}

// Options are shared by the job verbs.
type Options struct {
	IO       *cmdutil.IOStreams
	Connect  func(context.Context) (*client.Client, error)
	ID       string
	JSON     bool
	Interval time.Duration
}

// NewCmdList is `foundry job list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use: "list", Short: "List jobs, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return listRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func listRun(ctx context.Context, o *Options) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.Jobs(ctx)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, res.Jobs)
	}
	t := cmdutil.NewTable(o.IO, "JOB", "VERB", "STATE", "HOSTS", "OK", "FAILED", "NOT REACHED", "NOT STARTED", "OPERATOR", "CREATED")
	now := time.Now()
	for _, j := range res.Jobs {
		t.Row(j.ID, j.Verb, j.State, fmt.Sprint(len(j.Hosts)), fmt.Sprint(j.Count(messages.HostOK)), fmt.Sprint(j.Count(messages.HostFailed)),
			fmt.Sprint(j.Count(messages.HostNotReached)), fmt.Sprint(j.Count(messages.HostNotStarted)), j.Operator,
			cmdutil.FormatTime(o.IO, time.UnixMilli(j.Created), now))
	}
	return t.Render()
}

func idCmd(use, short string, o *Options, run func(context.Context, *Options) error, runF func(context.Context, *Options) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return run(cmd.Context(), o)
		},
	}
}

// NewCmdShow is `foundry job show <id>`.
func NewCmdShow(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IO, Connect: f.Connect}
	cmd := idCmd("show <id>", "Show a job and every host's outcome", o, showRun, runF)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func showRun(ctx context.Context, o *Options) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	j, err := cl.Job(ctx, o.ID)
	if err != nil {
		return fmt.Errorf("show job: %w", err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, j)
	}
	t := cmdutil.NewTable(o.IO, "HOST", "BATCH", "STATE", "DETAIL")
	for _, h := range j.Hosts {
		t.Row(h.Host, fmt.Sprint(h.Batch), h.State, h.Error)
	}
	if err := t.Render(); err != nil {
		return err
	}
	summary(o.IO.ErrOut, j)
	return jobExit(j)
}

// NewCmdWatch is `foundry job watch <id>`: follow a job until it ends.
func NewCmdWatch(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IO, Connect: f.Connect, Interval: 500 * time.Millisecond}
	cmd := idCmd("watch <id>", "Follow a job's progress until it finishes", o, watchRun, runF)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the final record as JSON")
	return cmd
}

func watchRun(ctx context.Context, o *Options) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	return Watch(ctx, o.IO, cl, o.ID, o.Interval, o.JSON)
}

// Watch polls a job, drawing a progress bar on a TTY, until it finishes;
// it then prints the outcome and returns a non-zero exit for a job that
// did not fully succeed.
func Watch(ctx context.Context, io *cmdutil.IOStreams, cl *client.Client, id string, every time.Duration, asJSON bool) error {
	for {
		j, err := cl.Job(ctx, id)
		if err != nil {
			return fmt.Errorf("watch job: %w", err)
		}
		done := j.State != messages.JobRunning
		if io.IsStdoutTTY() && !asJSON {
			fmt.Fprintf(io.ErrOut, "\r\033[K%s", bar(j))
			if done {
				fmt.Fprintln(io.ErrOut)
			}
		}
		if done {
			if asJSON {
				if err := cmdutil.WriteJSON(io.Out, j); err != nil {
					return err
				}
			} else {
				t := cmdutil.NewTable(io, "HOST", "BATCH", "STATE", "DETAIL")
				for _, h := range j.Hosts {
					t.Row(h.Host, fmt.Sprint(h.Batch), h.State, h.Error)
				}
				if err := t.Render(); err != nil {
					return err
				}
				summary(io.ErrOut, j)
			}
			return jobExit(j)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

func bar(j messages.JobRecord) string {
	total := len(j.Hosts)
	done := total - j.Count(messages.HostPending)
	width := 30
	filled := 0
	if total > 0 {
		filled = done * width / total
	}
	return fmt.Sprintf("job %s [%s%s] %d/%d hosts, batch %d/%d", j.ID, strings.Repeat("#", filled),
		strings.Repeat(".", width-filled), done, total, j.BatchesRun, j.Batches)
}

func summary(w io.Writer, j messages.JobRecord) {
	fmt.Fprintf(w, "job %s %s: %d ok, %d failed, %d not reached, %d not started (batch %s, max failures %s)\n",
		j.ID, j.State, j.Count(messages.HostOK), j.Count(messages.HostFailed), j.Count(messages.HostNotReached),
		j.Count(messages.HostNotStarted), j.Batch, j.MaxFailures)
	if n := j.Count(messages.HostRolledBack); n > 0 {
		fmt.Fprintf(w, "%d rolled back to their previous agent by themselves (agent upgrade)\n", n)
	}
	if n := j.Count(messages.HostInterrupted); n > 0 {
		fmt.Fprintf(w, "%d interrupted: their step was in flight when the controller stopped; foundry host list shows where they ended\n", n)
	}
	if j.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", j.Stopped)
	}
}

// jobExit is 0 only for a job where every host succeeded.
func jobExit(j messages.JobRecord) error {
	if j.State == messages.JobSucceeded {
		return nil
	}
	return &cmdutil.ExitCodeError{Code: 3, Err: cmdutil.ErrSilent}
}
