package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/rollout"
	"github.com/foundry-fleet/foundry/controller/target"
	"github.com/foundry-fleet/foundry/messages"
)

// UpgradeOptions are the flags of `agent upgrade`.
type UpgradeOptions struct {
	IO             *cmdutil.IOStreams
	Connect        func(context.Context) (Fleet, error)
	Version        string
	Hosts          []string
	Where          string
	Batch          string
	MaxFailures    string
	Deadline       time.Duration
	AllowDowngrade bool
	DryRun         bool
	Yes            bool
	JSON           bool
	// Poll is how often the job is read while it runs.
	Poll time.Duration
}

// NewCmdUpgrade is `foundry agent upgrade`.
func NewCmdUpgrade(f *cmdutil.Factory, runF func(context.Context, *UpgradeOptions) error) *cobra.Command {
	o := &UpgradeOptions{IO: f.IO, Connect: connect(f), Poll: 300 * time.Millisecond}
	cmd := &cobra.Command{
		Use:   "upgrade [--version V] [--host ID... | --where EXPR]",
		Short: "Replace the agent on hosts with another foundry-agent build, batch by batch, with automatic rollback",
		Long: `Upgrade the agents to a foundry-agent build from the artifact store
(foundry artifact import foundry-agent VERSION FILE; the release's
foundry-agent_VERSION_linux_ARCH files), as a rolling job.

Each agent fetches the build, checks its sha256 and signature, runs its
"version" as a self-check, keeps itself as foundry-agent.prev and restarts
onto the new binary. The new agent must connect and report its version
within --deadline; if it does not (it crashes, cannot connect, hangs), the
host goes back to the previous agent by itself, without the controller,
and the job reports it as rolled_back. The rollout stops when more hosts
failed than --max-failures allows (default: the first failure stops).

Without --version the newest verified foundry-agent in the store is used.
A host already at the version is left alone, so re-running converges. An
agent newer than the version is refused unless --allow-downgrade.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Version != "" {
				if err := messages.ValidVersion(o.Version); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			for _, h := range o.Hosts {
				if err := messages.ValidHostID(h); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			if len(o.Hosts) > 0 && o.Where != "" {
				return cmdutil.FlagErrorf("give --host or --where, not both")
			}
			if err := cmdutil.CheckWhere(o.Where); err != nil {
				return err
			}
			if _, err := rollout.ParseBatch(orDefault(o.Batch, "100%")); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if o.MaxFailures != "" {
				if _, err := rollout.ParseMaxFailures(o.MaxFailures); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			if ms := o.Deadline.Milliseconds(); ms < messages.MinAgentUpgradeDeadlineMs || ms > messages.MaxAgentUpgradeDeadlineMs {
				return cmdutil.FlagErrorf("--deadline must be between %s and %s", time.Duration(messages.MinAgentUpgradeDeadlineMs)*time.Millisecond,
					time.Duration(messages.MaxAgentUpgradeDeadlineMs)*time.Millisecond)
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return upgradeRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Version, "version", "", "foundry-agent version to run (default: the newest verified one in the artifact store)")
	fl.StringSliceVar(&o.Hosts, "host", nil, "upgrade only these host ids (repeatable)")
	fl.StringVar(&o.Where, "where", "", `select hosts, e.g. 'role=worker' (see docs/targeting.md)`)
	fl.StringVar(&o.Batch, "batch", "", "hosts per batch, N or N% (default: all at once)")
	fl.StringVar(&o.MaxFailures, "max-failures", "", "stop when more than N or N% hosts failed or rolled back (default: the first failure stops)")
	fl.DurationVar(&o.Deadline, "deadline", time.Duration(messages.DefaultAgentUpgradeDeadlineMs)*time.Millisecond,
		"how long a new agent has to connect and report its version before its host rolls back")
	fl.BoolVar(&o.AllowDowngrade, "allow-downgrade", false, "allow going to an older version than a host runs")
	fl.BoolVar(&o.DryRun, "dry-run", false, "show what would change, change nothing")
	fl.BoolVar(&o.Yes, "yes", false, "do not ask for confirmation")
	fl.BoolVar(&o.JSON, "json", false, "print the plan (--dry-run) or the finished job as JSON")
	return cmd
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// HostPlan is what an upgrade does to one host.
type HostPlan struct {
	Host    string `json:"host"`
	State   string `json:"state"`
	Current string `json:"current"`
	Action  string `json:"action"` // upgrade, downgrade, none, refused
	Detail  string `json:"detail"`
}

// Plan is an upgrade before it runs.
type Plan struct {
	Version   string                 `json:"version"`
	Artifacts []messages.ArtifactRef `json:"artifacts"`
	Hosts     []HostPlan             `json:"hosts"`
}

// Changing is the hosts the job will run on.
func (p Plan) Changing() []string {
	var out []string
	for _, h := range p.Hosts {
		if h.Action == "upgrade" || h.Action == "downgrade" {
			out = append(out, h.Host)
		}
	}
	return out
}

func upgradeRun(ctx context.Context, o *UpgradeOptions) error {
	fl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer fl.Close()
	arts, err := fl.ListArtifacts(ctx, messages.ArtifactListRequest{Component: messages.AgentComponent, Version: o.Version})
	if err != nil {
		return fmt.Errorf("list foundry-agent artifacts: %w", err)
	}
	version, refs, err := PickBuild(arts.Artifacts, o.Version)
	if err != nil {
		return err
	}
	hl, err := fl.HostList(ctx)
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	hosts, err := selectHosts(hl.Hosts, o.Hosts, o.Where)
	if err != nil {
		return err
	}
	plan := PlanUpgrade(version, refs, hosts, o.AllowDowngrade)
	if o.DryRun && o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, plan)
	}
	if err := printPlan(o, plan); err != nil {
		return err
	}
	var refused []string
	for _, h := range plan.Hosts {
		if h.Action == "refused" {
			refused = append(refused, h.Host+" ("+h.Current+")")
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("%d hosts run a newer agent than %s: %s; pass --allow-downgrade to go back to %s", len(refused), version, strings.Join(refused, ", "), version)
	}
	todo := plan.Changing()
	if len(todo) == 0 {
		fmt.Fprintf(o.IO.ErrOut, "every selected host already runs foundry-agent %s; nothing to do\n", version)
		return nil
	}
	if o.DryRun {
		fmt.Fprintf(o.IO.ErrOut, "dry run: %d hosts would change; nothing was sent\n", len(todo))
		return nil
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Upgrade the agent on %d hosts to %s?", len(todo), version)); err != nil {
		return err
	}
	payload, err := json.Marshal(messages.AgentUpgrade{Version: version, Artifacts: refs, AllowDowngrade: o.AllowDowngrade,
		DeadlineMs: o.Deadline.Milliseconds()})
	if err != nil {
		return err
	}
	j, err := fl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbAgentUpgrade, Hosts: todo, Batch: o.Batch,
		MaxFailures: o.MaxFailures, Payload: payload})
	if err != nil {
		return fmt.Errorf("start the agent upgrade: %w", err)
	}
	fmt.Fprintf(o.IO.ErrOut, "job %s: %d hosts in %d batches (batch %s, max failures %s)\n", j.ID, len(j.Hosts), j.Batches, j.Batch, j.MaxFailures)
	return follow(ctx, o, fl, j)
}

// PickBuild chooses the version (the newest with a verified build when
// want is empty) and returns its builds. A build whose stored bytes or
// signature no longer check out is refused before any host is asked.
func PickBuild(arts []messages.Artifact, want string) (string, []messages.ArtifactRef, error) {
	version := want
	if version == "" {
		for _, a := range arts {
			if a.Verified && (version == "" || messages.CompareVersions(a.Version, version) > 0) {
				version = a.Version
			}
		}
	}
	var refs []messages.ArtifactRef
	for _, a := range arts {
		if a.Component != messages.AgentComponent || a.Version != version {
			continue
		}
		if !a.Verified {
			return version, nil, fmt.Errorf("artifact %s is refused: %s; re-import it with foundry artifact import %s %s <file>",
				a.ObjectName(), a.Problem, messages.AgentComponent, version)
		}
		refs = append(refs, a.ArtifactRef)
	}
	if len(refs) == 0 {
		if want == "" {
			return "", nil, errors.New("the artifact store has no foundry-agent build; import one with foundry artifact import foundry-agent VERSION FILE")
		}
		return "", nil, fmt.Errorf("the artifact store has no foundry-agent %s; import it with foundry artifact import foundry-agent %s FILE", want, want)
	}
	return version, refs, nil
}

// selectHosts is the hosts the upgrade is about: the named ones (in the
// registry or not), or those --where matches, or all.
func selectHosts(all []messages.HostRecord, named []string, where string) ([]messages.HostRecord, error) {
	if len(named) > 0 {
		byID := map[string]messages.HostRecord{}
		for _, h := range all {
			byID[h.ID] = h
		}
		out := make([]messages.HostRecord, 0, len(named))
		for _, id := range named {
			h, ok := byID[id]
			if !ok {
				h = messages.HostRecord{ID: id, State: "unknown"}
			}
			out = append(out, h)
		}
		return out, nil
	}
	var expr target.Expr
	if where != "" {
		var err error
		if expr, err = target.Parse(where); err != nil {
			return nil, &cmdutil.FlagError{Err: fmt.Errorf("--where: %w", err)}
		}
	}
	var out []messages.HostRecord
	for _, h := range all {
		if expr == nil || expr.Match(target.Host{ID: h.ID, State: h.State, Role: h.Role, Labels: h.Labels, Facts: h.Facts}) {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) == 0 {
		return nil, fmt.Errorf("no host matches; check --host/--where and foundry host list")
	}
	return out, nil
}

// PlanUpgrade says what moving each host to version does.
func PlanUpgrade(version string, refs []messages.ArtifactRef, hosts []messages.HostRecord, allowDowngrade bool) Plan {
	p := Plan{Version: version, Artifacts: refs}
	for _, h := range hosts {
		hp := HostPlan{Host: h.ID, State: h.State, Current: h.Facts.AgentVersion}
		switch {
		case hp.Current == "":
			hp.Action, hp.Detail = "upgrade", "install "+version+" (version not known yet)"
		default:
			change, err := messages.AgentVersionChange(hp.Current, version, allowDowngrade)
			switch {
			case err != nil:
				hp.Action, hp.Detail = "refused", messages.AsError(err).Message
			case hp.Current == version:
				hp.Action, hp.Detail = "none", change
			case messages.CompareVersions(version, hp.Current) > 0:
				hp.Action, hp.Detail = "upgrade", change
			default:
				hp.Action, hp.Detail = "downgrade", change
			}
		}
		p.Hosts = append(p.Hosts, hp)
	}
	return p
}

func printPlan(o *UpgradeOptions, p Plan) error {
	files := make([]string, 0, len(p.Artifacts))
	for _, a := range p.Artifacts {
		files = append(files, a.File)
	}
	fmt.Fprintf(o.IO.ErrOut, "foundry-agent %s (%s)\n", p.Version, strings.Join(files, ", "))
	t := cmdutil.NewTable(o.IO, "HOST", "STATE", "AGENT", "ACTION")
	for _, h := range p.Hosts {
		t.Row(h.Host, h.State, orDefault(h.Current, "-"), h.Detail)
	}
	return t.Render()
}

// follow prints each batch as it finishes, then the outcome; the exit
// code is non-zero unless every host ended on the new version.
func follow(ctx context.Context, o *UpgradeOptions, fl Fleet, j messages.JobRecord) error {
	shown := 0
	for {
		for shown < j.BatchesRun {
			shown++
			printBatch(o, j, shown)
		}
		if j.State != messages.JobRunning {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s is still running on the controller (foundry job watch %s): %w", j.ID, j.ID, ctx.Err())
		case <-time.After(o.Poll):
		}
		next, err := fl.Job(ctx, j.ID)
		if err != nil {
			return fmt.Errorf("lost the controller while job %s ran (%w); once it is back, run the same command again: hosts already upgraded are left alone", j.ID, err)
		}
		j = next
	}
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, j); err != nil {
			return err
		}
	}
	fmt.Fprintln(o.IO.ErrOut, Summary(j))
	if j.State == messages.JobSucceeded {
		return nil
	}
	return &cmdutil.ExitCodeError{Code: 3, Err: cmdutil.ErrSilent}
}

// printBatch writes batch n's hosts and outcomes.
func printBatch(o *UpgradeOptions, j messages.JobRecord, n int) {
	if o.JSON {
		return
	}
	var hosts []messages.JobHost
	for _, h := range j.Hosts {
		if h.Batch == n {
			hosts = append(hosts, h)
		}
	}
	fmt.Fprintf(o.IO.Out, "batch %d/%d:\n", n, j.Batches)
	for _, h := range hosts {
		fmt.Fprintf(o.IO.Out, "  %s %s\n", h.Host, HostOutcome(h))
	}
}

// HostOutcome is one host's line: upgraded with its versions, or its
// state and why.
func HostOutcome(h messages.JobHost) string {
	var rep messages.AgentUpgradeReply
	_ = json.Unmarshal(h.Result, &rep)
	switch {
	case h.State == messages.HostOK && rep.Changed:
		return fmt.Sprintf("upgraded %s → %s", rep.From, rep.To)
	case h.State == messages.HostOK:
		return "unchanged: " + rep.Detail
	case h.Error != "":
		return h.State + ": " + h.Error
	}
	return h.State
}

// Summary is the job's last line: counts by outcome, why it stopped,
// and the rolled-back hosts by name.
func Summary(j messages.JobRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s %s: %d upgraded, %d rolled back, %d failed, %d not reached, %d not started",
		j.ID, j.State, j.Count(messages.HostOK), j.Count(messages.HostRolledBack), j.Count(messages.HostFailed),
		j.Count(messages.HostNotReached), j.Count(messages.HostNotStarted))
	if n := j.Count(messages.HostInterrupted); n > 0 {
		fmt.Fprintf(&b, ", %d interrupted", n)
	}
	if j.Stopped != "" {
		fmt.Fprintf(&b, "\nstopped: %s", j.Stopped)
	}
	var back []string
	for _, h := range j.Hosts {
		if h.State == messages.HostRolledBack {
			back = append(back, h.Host)
		}
	}
	if len(back) > 0 {
		slices.Sort(back)
		fmt.Fprintf(&b, "\nrolled back by themselves to their previous agent: %s", strings.Join(back, ", "))
	}
	return b.String()
}
