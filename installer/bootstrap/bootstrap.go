// Package bootstrap is "SSH once": it installs the agent on a host over SSH,
// gives it its own NATS identity and waits until it registers. Every later
// operation goes over NATS.
//
// A run is idempotent (a healthy host is reported unchanged and nothing is
// restarted; a broken one is repaired) and all-or-nothing per host: when a
// step fails, what this run put on the host is removed (or, for a repair,
// the previous files are restored) and the error names the step, the
// command, its stderr and exit code.
package bootstrap

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/messages"
)

// Outcomes of Add.
const (
	Added     = "added"
	Unchanged = "unchanged"
	Repaired  = "repaired"
	// Updated: a running agent got a new configuration (another role or
	// labels) and nothing else; nothing was broken.
	Updated = "updated"
)

// Controller is what the bootstrap needs from the controller API;
// *client.Client implements it.
type Controller interface {
	Enroll(ctx context.Context, req messages.EnrollRequest) (messages.EnrollResult, error)
	HostList(ctx context.Context) (messages.HostListResult, error)
	RemoveHost(ctx context.Context, req messages.HostRemoveRequest) (messages.HostRemoveResult, error)
}

// KeyStore keeps each host's private SSH key (OpenBAO or 0600 files).
type KeyStore interface {
	StoreSSHKey(ctx context.Context, host string, privatePEM []byte) error
	LoadSSHKey(ctx context.Context, host string) ([]byte, error)
}

// Options describe one host to add.
type Options struct {
	// ID is the host id in the fleet; Address is what SSH dials.
	ID      string
	Address string
	Port    int
	User    string
	// Password (first contact, and sudo) or KeyFile (an existing key).
	Password []byte
	KeyFile  string

	KnownHostsFile string
	TrustPrompt    ssh.TrustPrompt
	Keys           KeyStore
	Controller     Controller

	// AgentBinary is the foundry-agent executable to install, as the
	// foundry-agent package built from it.
	AgentBinary []byte
	// AgentSHA256 is AgentBinary's hex sha256; AddMany fills it once for
	// all hosts, Add hashes on demand when it is empty.
	AgentSHA256 string
	// AgentVersion is the package's version: the controller's (see
	// DebVersion).
	AgentVersion string
	// AgentArch is the package's architecture; empty means the binary's
	// (the host's for a binary that is no ELF executable).
	AgentArch string
	// pkgs builds the package, once per architecture; AddMany shares one
	// between hosts, Add makes its own when it is nil.
	pkgs *packages
	// Heartbeat is written into the agent's config (0 = agent default).
	Heartbeat time.Duration
	// Role and Labels are written into the agent's config for --where.
	Role   string
	Labels map[string]string
	// RegisterTimeout bounds the wait for the first heartbeat.
	RegisterTimeout time.Duration

	Logger   *slog.Logger
	Progress func(id, step string)
}

// Result is what happened on one host.
type Result struct {
	ID      string   `json:"id"`
	Address string   `json:"address"`
	Outcome string   `json:"outcome,omitempty"`
	Changes []string `json:"changes,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// StepError says which step failed and how, with the command's stderr
// and exit code when a remote command failed.
type StepError struct {
	Host     string
	Step     string
	Command  string
	Stderr   string
	ExitCode int
	Err      error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("%s: step %q failed: %v", e.Host, e.Step, e.Err)
	if e.Command != "" {
		msg += fmt.Sprintf(" (command %q exited %d", compact(e.Command), e.ExitCode)
		if s := strings.TrimSpace(e.Stderr); s != "" {
			msg += ": " + s
		}
		msg += ")"
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// compact shows a multi-line script on one line, shortened: the failing
// step is named on stderr, so the whole script adds little to a message.
func compact(cmd string) string {
	cmd = strings.Join(strings.Fields(strings.ReplaceAll(cmd, "\n", "; ")), " ")
	if len(cmd) > 160 {
		cmd = cmd[:157] + "..."
	}
	return cmd
}

// errRemote stands for "the remote command exited non-zero"; the details
// are in the StepError's fields.
var errRemote = errors.New("remote command failed")

// run is one Add in progress: what it changed, so a failure can undo it.
type run struct {
	o            Options
	r            ssh.Runner
	log          *slog.Logger
	before       hostState
	changes      []string
	keyLine      string // authorized_keys line this run added
	viaStoredKey bool
	keyCheck     chan error // result of the background login with the new host key
	enrolled     bool       // this run created the identity
	backedUp     bool
	installedPkg bool // this run ran dpkg -i
}

// Add installs or repairs the agent on one host and waits until it
// registers with the controller.
func Add(ctx context.Context, o Options) (res Result) {
	res = Result{ID: o.ID, Address: o.Address}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = func(string, string) {}
	}
	if o.RegisterTimeout == 0 {
		o.RegisterTimeout = 60 * time.Second
	}
	rn := &run{o: o, log: o.Logger.With("host", o.ID)}
	outcome, err := rn.add(ctx)
	if rn.r != nil {
		defer rn.r.Close()
	}
	if err != nil {
		_ = rn.hostKeyProven(ctx) // never leave the background login running
		rn.undo(ctx)
		res.Error = err.Error()
		return res
	}
	res.Outcome, res.Changes = outcome, rn.changes
	return res
}

func (rn *run) step(name string) { rn.o.Progress(rn.o.ID, name) }

func (rn *run) fail(step string, err error) error {
	se := &StepError{Host: rn.o.ID, Step: step, Err: err}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		se.Command, se.Stderr, se.ExitCode = ee.Command, ee.Stderr, ee.ExitCode
		se.Err = errRemote
	}
	return se
}

// sh runs a script as root.
func (rn *run) sh(ctx context.Context, step, script string) (string, error) {
	res, err := rn.r.Run(ctx, ssh.Command{Line: script, Sudo: true})
	if err != nil {
		return res.Stdout, rn.fail(step, err)
	}
	return res.Stdout, nil
}

func (rn *run) add(ctx context.Context) (string, error) {
	if err := messages.ValidHostID(rn.o.ID); err != nil {
		return "", rn.fail("validate", err)
	}
	rn.step("connect")
	if err := rn.connect(ctx); err != nil {
		return "", err
	}
	// Switch to the host's own key before the first sudo: every sudo with a
	// password costs a password hash on the host, so the whole install is
	// done in as few sudo calls as possible on one connection.
	if err := rn.ensureHostKey(ctx); err != nil {
		return "", err
	}
	rn.step("probe")
	res, err := rn.r.Run(ctx, ssh.Command{Line: probeScript()})
	if err != nil {
		return "", rn.fail("probe", err)
	}
	if rn.before, err = parseProbe(res.Stdout); err != nil {
		return "", rn.fail("probe", err)
	}
	if err := rn.install(ctx); err != nil {
		return "", err
	}
	if err := rn.hostKeyProven(ctx); err != nil {
		return "", err
	}
	if rn.backedUp {
		if _, err := rn.sh(ctx, "clean up", dropBackupsScript(managedFiles)); err != nil {
			rn.log.Warn("backups not removed", "err", err)
		}
		rn.backedUp = false
	}
	return outcome(rn.before, rn.changes), nil
}

// outcome names what a successful run did to a host that was in state
// before: nothing, a new install, a new configuration for an agent that
// was running (only the config file changed: another --role or --label),
// or a repair of anything else.
func outcome(before hostState, changes []string) string {
	switch {
	case len(changes) == 0:
		return Unchanged
	case !before.installed(), !before.enrolled() && !before.active:
		// Nothing there, or a package an operator installed with dpkg -i
		// that host add adopts and enrols.
		return Added
	case before.active && len(changes) == 1 && changes[0] == agentunit.DefaultConfig:
		return Updated
	}
	return Repaired
}

// install puts binary, identity, config and unit in place, (re)starts the
// agent only when something changed, and waits for it to register. It is
// one sudo call (each sudo with a password costs a password hash on the
// host): the root script installs the binary from stdin, creates the
// identity and prints its public key, then reads and runs the second half
// — files and systemd — which exists only once the controller enrolled
// that key.
func (rn *run) install(ctx context.Context) error {
	if !rn.before.dpkg {
		return rn.fail("check host", fmt.Errorf("the host has no dpkg: Foundry installs its agent as a .deb package, on Debian or Ubuntu hosts only"))
	}
	arch := rn.o.AgentArch
	if arch == "" {
		a, err := binaryArch(rn.o.AgentBinary)
		if err != nil {
			return rn.fail("build agent package", err)
		}
		arch = cmp.Or(a, rn.before.arch)
	}
	if rn.before.arch != arch {
		return rn.fail("check host", fmt.Errorf("the host is %s and the agent binary is %s; pass a foundry-agent built for linux/%s with --agent-binary", rn.before.arch, arch, rn.before.arch))
	}
	if rn.o.pkgs == nil {
		rn.o.pkgs = newPackages(rn.o.AgentBinary, rn.o.AgentVersion)
	}
	pkg, err := rn.o.pkgs.get(arch)
	if err != nil {
		return rn.fail("build agent package", err)
	}
	newPackage := rn.before.pkgStatus != pkgInstalled || rn.before.pkgVersion != pkg.version ||
		rn.before.sums[agentunit.DefaultBinary] != rn.o.agentSHA() || rn.before.sums[agentunit.UnitPath] != pkg.unitSHA
	var script strings.Builder
	script.WriteString(scriptHeader())
	var binary io.Reader = bytes.NewReader(nil)
	if newPackage {
		if rn.before.installed() {
			script.WriteString(backupScript([]string{agentunit.DefaultBinary, agentunit.UnitPath}))
			rn.backedUp = true
		}
		script.WriteString(installPackageScript(pkg.sha256, len(pkg.data)))
		binary = bytes.NewReader(pkg.data)
		rn.changes = append(rn.changes, "agent package "+pkg.version)
		rn.installedPkg = true
	}
	script.WriteString(keygenScript())
	script.WriteString(secondHalfScript())
	rn.step("install agent")
	sess := startRoot(ctx, rn.r, script.String(), binary)
	pub, err := sess.firstLine()
	if err != nil {
		sess.finish("")
		return rn.fail("install agent", err)
	}
	if rn.before.sums[agentunit.SeedPath] == "" {
		rn.changes = append(rn.changes, "identity")
	}

	rn.step("enroll")
	enr, err := rn.o.Controller.Enroll(ctx, messages.EnrollRequest{Host: rn.o.ID, PublicKey: pub,
		Address: rn.o.Address, SSHUser: rn.o.User, SSHPort: rn.o.Port, Role: rn.o.Role, Labels: rn.o.Labels})
	if err != nil {
		sess.finish("")
		return rn.fail("enroll", err)
	}
	rn.enrolled = enr.Created && !rn.before.enrolled()
	if enr.Created && rn.before.sums[agentunit.SeedPath] != "" {
		rn.changes = append(rn.changes, "identity re-enrolled")
	}

	files, err := rn.renderFiles(enr)
	if err != nil {
		sess.finish("")
		return rn.fail("render config", err)
	}
	var changed []managedFile
	var changedPaths []string
	for _, f := range files {
		if rn.before.sums[f.path] != sha(f.data) {
			changed = append(changed, f)
			changedPaths = append(changedPaths, f.path)
		}
	}
	rn.changes = append(rn.changes, changedPaths...)
	legacy := rn.before.legacy()
	if legacy {
		rn.changes = append(rn.changes, "removed "+agentunit.LegacyBinary+" and "+agentunit.LegacyUnitPath)
	}
	restart := len(rn.changes) > 0 || !rn.before.active
	script.Reset()
	if (len(changed) > 0 || legacy) && rn.before.installed() {
		script.WriteString(backupScript(append(slices.Clone(changedPaths), agentunit.LegacyBinary, agentunit.LegacyUnitPath)))
		rn.backedUp = true
	}
	script.WriteString(writeFilesScript(changed))
	if legacy {
		script.WriteString(removeLegacyScript())
	}
	// The unit is the package's: dpkg's postinst reloads systemd when a
	// unit it holds changed. enable only links it (--no-reload: a unit
	// systemd has not loaded is read when restart names it), except after
	// the old layout's unit went, which systemd may still hold.
	if !rn.before.enabled || legacy {
		reload := " --no-reload"
		if legacy {
			reload = ""
		}
		script.WriteString("step='enable agent'\nsystemctl enable" + reload + " " + agentunit.UnitName + " >/dev/null 2>&1\n")
	}
	if restart {
		script.WriteString("step='start agent'\nsystemctl restart " + agentunit.UnitName + "\n")
		if len(rn.changes) == 0 {
			rn.changes = append(rn.changes, "agent restarted")
		}
	}
	since := time.Now()
	rn.step("start agent")
	if err := sess.finish(script.String()); err != nil {
		return rn.fail("start agent", err)
	}
	rn.step("wait for registration")
	return rn.waitRegistered(ctx, since, restart)
}

// managedFile is one file the bootstrap writes.
type managedFile struct {
	path string
	mode os.FileMode
	data []byte
}

// renderFiles is what the host's /etc should hold for this enrollment.
func (rn *run) renderFiles(enr messages.EnrollResult) ([]managedFile, error) {
	cfg := agent.Config{ID: rn.o.ID, URLs: enr.URLs, NKeyFile: agentunit.SeedPath, TrustedKeys: enr.TrustedKeys,
		Heartbeat: rn.o.Heartbeat, Role: rn.o.Role, Labels: rn.o.Labels}
	var out []managedFile
	if enr.CAPEM != "" {
		cfg.CAFile = agentunit.CAPath
		out = append(out, managedFile{agentunit.CAPath, 0o644, []byte(enr.CAPEM)})
	}
	y, err := agent.RenderConfig(cfg)
	if err != nil {
		return nil, err
	}
	// The unit is the package's.
	return append(out, managedFile{agentunit.DefaultConfig, 0o644, y}), nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// agentSHA is the agent binary's hex sha256, computed once.
func (o *Options) agentSHA() string {
	if o.AgentSHA256 == "" {
		o.AgentSHA256 = sha(o.AgentBinary)
	}
	return o.AgentSHA256
}
