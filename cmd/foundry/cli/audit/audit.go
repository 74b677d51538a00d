// Package audit holds the `foundry audit` verbs: reading the controller's
// audit trail (the FOUNDRY_AUDIT stream). Every operator, read-only ones
// included, may read it.
package audit

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// NewCmdAudit is the `audit` noun.
func NewCmdAudit(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "audit <verb>", Short: "Read the audit trail: who did what to which hosts"}
	cmd.AddCommand(NewCmdList(f, nil), NewCmdTail(f, nil))
	return cmd
}

// Options are the flags shared by `audit list` and `audit tail`.
type Options struct {
	IO       *cmdutil.IOStreams
	Connect  func(context.Context) (*client.Client, error)
	Since    time.Duration
	Operator string
	JSON     bool
	Follow   bool

	headerDone bool // the terminal header was printed
}

// NewCmdList is `foundry audit list`: records up to now, then exit.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "list [--since DURATION] [--operator NAME] [--json]",
		Short: "Print past audit records and exit",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return validateAndRun(cmd, opts, runF) },
	}
	addFlags(cmd, opts, 24*time.Hour)
	return cmd
}

// NewCmdTail is `foundry audit tail`: follow new records as they land.
func NewCmdTail(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Connect: f.Connect, Follow: true}
	cmd := &cobra.Command{
		Use:   "tail [--since DURATION] [--operator NAME] [--json]",
		Short: "Follow audit records as they happen (Ctrl-C to stop)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return validateAndRun(cmd, opts, runF) },
	}
	addFlags(cmd, opts, 0)
	return cmd
}

func addFlags(cmd *cobra.Command, o *Options, since time.Duration) {
	cmd.Flags().DurationVar(&o.Since, "since", since, "include records from this long ago")
	cmd.Flags().StringVar(&o.Operator, "operator", "", "only records about this operator ("+messages.UnknownOperator+" for unidentified senders)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object per line")
}

func validateAndRun(cmd *cobra.Command, o *Options, runF func(context.Context, *Options) error) error {
	if o.Since < 0 {
		return cmdutil.FlagErrorf("--since must be positive, e.g. 24h")
	}
	if _, err := messages.AuditFilter(o.Operator); err != nil {
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
	return cl.Audit(ctx, client.AuditQuery{Operator: o.Operator, Since: o.Since, Follow: o.Follow},
		func(r messages.AuditRecord) error { return printRecord(o, r) })
}

// printRecord writes one line per record as it arrives: JSON lines, or
// fixed-width columns on a terminal, tab-separated fields when piped.
func printRecord(o *Options, r messages.AuditRecord) error {
	if o.JSON {
		return cmdutil.WriteJSONLine(o.IO.Out, r)
	}
	ts := time.UnixMilli(r.Time)
	what := r.Action
	if r.Verb != "" {
		what += " " + r.Verb
	}
	outcome := r.Outcome
	if r.Code != "" {
		outcome += " (" + r.Code + ")"
	}
	targets := summarize(r)
	if o.IO.IsStdoutTTY() {
		if !o.headerDone {
			o.headerDone = true
			if _, err := fmt.Fprintln(o.IO.Out, ttyLine("TIME", "OPERATOR", "SOURCE", "ACTION", "OUTCOME", "TARGETS", "REQUEST")); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintln(o.IO.Out, ttyLine(ts.Format("2006-01-02 15:04:05"), r.Operator, r.Source, what, outcome, targets, r.RequestID))
		return err
	}
	_, err := fmt.Fprintln(o.IO.Out, strings.Join([]string{ts.UTC().Format(time.RFC3339Nano), r.Operator, r.Source,
		what, outcome, targets, r.RequestID}, "\t"))
	return err
}

// ttyWidths are the terminal columns before the last (the request id,
// which is printed whole). Records stream, so the table cannot be
// aligned after the fact: a longer value is cut to its column with "…".
var ttyWidths = [...]int{19, 12, 6, 28, 24, 24}

// ttyLine is one aligned terminal line of the audit table.
func ttyLine(fields ...string) string {
	var b strings.Builder
	for i, f := range fields {
		if i < len(ttyWidths) {
			w := ttyWidths[i]
			f = clip(f, w)
			b.WriteString(f)
			b.WriteString(strings.Repeat(" ", w-utf8.RuneCountInString(f)+1))
			continue
		}
		b.WriteString(f)
	}
	return strings.TrimRight(b.String(), " ")
}

// clip cuts s to at most w runes, marking the cut with "…".
func clip(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	r := []rune(s)
	return string(r[:w-1]) + "…"
}

// summarize names the hosts a record is about, shortened for a line.
func summarize(r messages.AuditRecord) string {
	hosts := r.Targets
	if len(hosts) == 0 && r.Host != "" {
		hosts = []string{r.Host}
	}
	switch {
	case len(hosts) == 0:
		return "-"
	case len(hosts) <= 3:
		return strings.Join(hosts, ",")
	}
	return fmt.Sprintf("%s,... (%d hosts)", strings.Join(hosts[:2], ","), len(hosts))
}
