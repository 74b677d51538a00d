package component

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/messages"
)

// ApplyOptions steer an install or upgrade of one resolved component.
type ApplyOptions struct {
	DryRun bool
	Yes    bool
	// Upgrade asks first what runs, and confirms a version change.
	Upgrade bool
	// ShowUnsealKeys prints OpenBAO unseal keys after initialising it.
	ShowUnsealKeys bool
}

// Outcome is one component's result, for --json and stack summaries.
type Outcome struct {
	Component string            `json:"component"`
	Version   string            `json:"version"`
	Job       string            `json:"job,omitempty"`
	DryRun    bool              `json:"dry_run,omitempty"`
	Changed   bool              `json:"changed"`
	Hosts     []comp.HostResult `json:"hosts"`
	Notes     []string          `json:"notes,omitempty"`
	// Seconds is the step's wall time in a stack run.
	Seconds float64 `json:"seconds,omitempty"`
}

// errFailed is returned (wrapped in an exit code) when any host failed.
var errFailed = errors.New("component failed on some hosts")

// Apply installs (or plans) one target as a job and reports per host and
// per step. A component whose hosts all fail returns an error naming the
// first failure; the caller turns it into the exit code.
func Apply(ctx context.Context, e Env, cl *client.Client, t comp.Target, o ApplyOptions) (Outcome, error) {
	out := Outcome{Component: t.Component.Name, Version: t.Desired.Version, DryRun: o.DryRun}
	if o.Upgrade && !o.DryRun {
		proceed, note, err := confirmUpgrade(ctx, e, cl, t, o.Yes)
		if err != nil {
			return out, err
		}
		if !proceed {
			out.Notes = append(out.Notes, note)
			fmt.Fprintln(e.IO.ErrOut, note)
			return out, nil
		}
	}
	if prep, ok := beforeApply[t.Component.Name]; ok {
		var err error
		if t, err = prep(ctx, e, cl, t); err != nil {
			return out, err
		}
	}
	verb := messages.VerbServiceApply
	if o.DryRun {
		verb = messages.VerbServicePlan
	}
	fmt.Fprintf(e.IO.ErrOut, "%s %s %s on %s\n", map[bool]string{true: "planning", false: "installing"}[o.DryRun],
		t.Component.Name, t.Desired.Version, strings.Join(t.Desired.Hosts, ", "))
	rec, err := comp.RunJob(ctx, cl, verb, t.Desired.Hosts, t.Spec, progress(e.IO))
	out.Job = rec.ID
	if err != nil {
		return out, err
	}
	out.Hosts = comp.Results(rec)
	failed := 0
	for _, h := range out.Hosts {
		if h.Apply != nil && h.Apply.Changed {
			out.Changed = true
		}
		if h.State != messages.HostOK {
			failed++
		}
	}
	if failed == 0 && !o.DryRun {
		if hook, ok := afterApply[t.Component.Name]; ok {
			notes, err := hook(ctx, e, cl, t, o)
			out.Notes = append(out.Notes, notes...)
			if err != nil {
				return out, err
			}
		}
	}
	if failed > 0 {
		return out, fmt.Errorf("%s failed on %d of %d host(s) (job %s); see the steps above, fix the cause and run the command again: %w",
			t.Component.Name, failed, len(out.Hosts), rec.ID, errFailed)
	}
	return out, nil
}

// beforeApply completes a target with what only the CLI can make: for
// OpenBAO, its TLS certificate and key.
var beforeApply = map[string]func(context.Context, Env, *client.Client, comp.Target) (comp.Target, error){
	"openbao": prepareOpenBAO,
}

// afterApply holds per-component work the CLI does once the service
// runs; only OpenBAO needs any (initialise and unseal).
var afterApply = map[string]func(context.Context, Env, *client.Client, comp.Target, ApplyOptions) ([]string, error){
	"openbao": initOpenBAO,
}

// progress draws a one-line bar on a TTY and nothing otherwise (the
// per-host table follows at the end).
func progress(io *cmdutil.IOStreams) func(messages.JobRecord) {
	return func(j messages.JobRecord) {
		if !io.IsStdoutTTY() {
			return
		}
		done := len(j.Hosts) - j.Count(messages.HostPending)
		fmt.Fprintf(io.ErrOut, "\r\033[Kjob %s: %d/%d hosts done", j.ID, done, len(j.Hosts))
		if j.State != messages.JobRunning {
			fmt.Fprintln(io.ErrOut)
		}
	}
}

// PrintOutcome renders the per-host, per-step result: "+" marks a step
// that changed (or would), "=" one already as desired.
func PrintOutcome(io *cmdutil.IOStreams, o Outcome) {
	w := io.Out
	for _, h := range o.Hosts {
		switch {
		case h.Apply != nil:
			verdict := "unchanged"
			if h.Apply.Changed {
				verdict = map[bool]string{true: "would change", false: "changed"}[o.DryRun]
			}
			if h.Apply.RolledBack {
				verdict = "failed, rolled back"
			}
			fmt.Fprintf(w, "%s %s %s: %s\n", o.Component, o.Version, h.Host, verdict)
			for _, s := range h.Apply.Steps {
				mark := "="
				if s.Changed {
					mark = "+"
				}
				fmt.Fprintf(w, "  %s %-8s %s\n", mark, s.Name, s.Detail)
			}
			if h.State != messages.HostOK {
				fmt.Fprintf(w, "  ! %s\n", h.Error)
			}
		default:
			fmt.Fprintf(w, "%s %s %s: %s %s\n", o.Component, o.Version, h.Host, h.State, h.Error)
		}
	}
	for _, n := range o.Notes {
		fmt.Fprintln(w, n)
	}
}

// confirmUpgrade asks the hosts what runs and confirms the change. It
// returns false with a note when every host already runs the version.
func confirmUpgrade(ctx context.Context, e Env, cl *client.Client, t comp.Target, yes bool) (bool, string, error) {
	st, err := Status(ctx, e, cl, t.Component, t.Desired)
	if err != nil {
		return false, "", err
	}
	var changes []string
	for _, h := range st.Hosts {
		cur := "not installed"
		if h.Status != nil && h.Status.Installed {
			cur = h.Status.Version
		}
		if h.Status == nil {
			cur = "unknown (" + strings.TrimSpace(h.State+" "+h.Error) + ")"
		}
		if cur != t.Desired.Version || h.Status == nil || h.Status.ActiveState != "active" {
			changes = append(changes, fmt.Sprintf("  %s: %s -> %s", h.Host, cur, t.Desired.Version))
		}
	}
	if len(changes) == 0 {
		return false, fmt.Sprintf("%s is already at %s on every host; nothing to upgrade", t.Component.Name, t.Desired.Version), nil
	}
	fmt.Fprintf(e.IO.ErrOut, "%s upgrade:\n%s\n", t.Component.Name, strings.Join(changes, "\n"))
	if err := cmdutil.Confirm(e.IO, yes, fmt.Sprintf("Upgrade %s to %s?", t.Component.Name, t.Desired.Version)); err != nil {
		return false, "", err
	}
	return true, "", nil
}
