// Package selfupdate replaces the running agent's binary with a signed
// foundry-agent artifact, so that a host can always go back without the
// controller and without the new binary's help.
//
// The running (old) agent does the forward half: fetch and verify the
// artifact beside itself, run its `version` as a self-check, keep itself
// as .prev, write the pending-upgrade marker, rename the new binary into
// place and have systemd restart the unit. The way back belongs to the
// unit (installer/agentunit.PrestartScript, a shell step before every
// start) and to a transient timer that restarts a new agent which has not
// confirmed by the deadline. The new agent's only part is Confirm, once
// it has connected and heartbeated its version; a new agent that cannot
// do that is, by construction, replaced.
package selfupdate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/messages"
)

// Options are the updater's host: where the binary, marker and record
// are, how artifacts are fetched and checked, and how systemd is asked
// for the restart and the guard. Tests point them at a temporary
// directory and a recorder.
type Options struct {
	Logger *slog.Logger
	// Binary is the running agent's executable.
	Binary string
	// Packaged says Binary is the package's (under PackagedPrefix), which
	// the agent may not write: the new binary is staged in StageDir
	// (default agentunit.StateDir) and a transient unit swaps it in.
	// New sets it from Binary.
	Packaged bool
	StageDir string
	// Marker and Record default to agentunit.UpgradeMarker and
	// agentunit.UpgradeFailedRecord.
	Marker, Record string
	// UnitFiles are the agent's unit files; the first that exists must
	// carry the rollback step (an agent installed before self-update
	// has none, and an upgrade there could not come back).
	UnitFiles []string
	Source    service.Source
	Verifier  *messages.Verifier
	// Arch is the host's GOARCH, to pick the build.
	Arch string
	// SystemdRun runs systemd-run with args.
	SystemdRun func(ctx context.Context, args []string) error
	Now        func() time.Time
}

// Updater runs one upgrade at a time.
type Updater struct {
	o  Options
	mu sync.Mutex
}

// New fills the defaults of o.
func New(o Options) *Updater {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Marker == "" {
		o.Marker = agentunit.UpgradeMarker
	}
	if o.Record == "" {
		o.Record = agentunit.UpgradeFailedRecord
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if strings.HasPrefix(o.Binary, PackagedPrefix) {
		o.Packaged = true
	}
	if o.StageDir == "" {
		o.StageDir = agentunit.StateDir
	}
	if o.SystemdRun == nil {
		o.SystemdRun = systemdRun
	}
	return &Updater{o: o}
}

func systemdRun(ctx context.Context, args []string) error {
	out, err := exec.CommandContext(ctx, "systemd-run", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemd-run %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// PackagedPrefix is where the .deb installs the agent: a directory the
// agent's sandbox keeps read-only (ProtectSystem=strict).
const PackagedPrefix = "/usr/bin/"

// Upgrade moves the agent from current to req.Version (see the package
// doc). It returns once the new binary is in place and the restart is
// scheduled; on any error before that, the host is as it was.
func (u *Updater) Upgrade(ctx context.Context, current, id string, req messages.AgentUpgrade) (messages.AgentUpgradeReply, error) {
	rep := messages.AgentUpgradeReply{From: current, To: req.Version}
	change, err := messages.AgentVersionChange(current, req.Version, req.AllowDowngrade)
	if err != nil {
		return rep, err
	}
	rep.Detail = change
	if current == req.Version {
		return rep, nil
	}
	if !u.mu.TryLock() {
		return rep, &messages.Error{Code: messages.CodeConflict, Message: "an agent upgrade is already running on this host; wait for it"}
	}
	defer u.mu.Unlock()
	ref, ok := messages.AgentArtifactFor(req.Artifacts, u.o.Arch)
	if !ok {
		return rep, &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf(
			"no foundry-agent %s build for linux/%s; import foundry-agent_%s_linux_%s", req.Version, u.o.Arch, req.Version, u.o.Arch)}
	}
	if err := u.canUpgrade(); err != nil {
		return rep, err
	}
	bin := u.o.Binary
	staged := bin + agentunit.NewSuffix
	if u.o.Packaged {
		staged = filepath.Join(u.o.StageDir, filepath.Base(bin)+agentunit.NewSuffix)
	}
	if err := service.FetchArtifact(ctx, u.o.Source, u.o.Verifier, ref, staged); err != nil {
		return rep, err
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(staged)
		}
	}()
	if err := selfCheck(ctx, staged, req.Version); err != nil {
		return rep, err
	}
	deadline := u.o.Now().Add(time.Duration(req.Deadline()) * time.Millisecond)
	m := agentunit.Marker{ID: id, From: current, To: req.Version, Deadline: deadline.Unix()}
	if err := m.Valid(); err != nil {
		return rep, &messages.Error{Code: messages.CodeBadRequest, Message: err.Error()}
	}
	undo, err := u.swap(ctx, id, staged, m)
	if err != nil {
		return rep, err
	}
	// From here the rollback step owns the way back: even if this process
	// dies now, the next start counts against the marker.
	if err := u.o.SystemdRun(ctx, agentunit.GuardRunArgs(id, req.Deadline()/1000)); err != nil {
		undo()
		return rep, hostError("schedule the upgrade's deadline", err)
	}
	if err := u.o.SystemdRun(ctx, agentunit.RestartRunArgs(id)); err != nil {
		undo()
		return rep, hostError("schedule the restart onto the new agent", err)
	}
	keep = true
	os.Remove(u.o.Record) // an older failed attempt is superseded
	rep.Changed, rep.Deadline = true, deadline.UnixMilli()
	u.o.Logger.Warn("agent upgrade staged; systemd restarts the agent onto the new binary", "from", current, "to", req.Version,
		"deadline", deadline.UTC(), "artifact", ref.ObjectName())
	return rep, nil
}

// swap keeps the running binary as .prev, writes the marker and puts the
// staged binary in place; undo reverses all three. The package's binary
// lives where the agent's sandbox may not write (/usr/bin), so there a
// transient unit outside the sandbox does the file work, with the same
// .prev the rollback step restores.
func (u *Updater) swap(ctx context.Context, id, staged string, m agentunit.Marker) (undo func(), err error) {
	bin := u.o.Binary
	if u.o.Packaged {
		if err := writeAtomic(u.o.Marker, m.Encode()); err != nil {
			return nil, hostError("write the upgrade marker", err)
		}
		if err := u.o.SystemdRun(ctx, agentunit.SwapRunArgs(id, staged, bin)); err != nil {
			os.Remove(u.o.Marker)
			return nil, hostError("put the new agent in place of the package's "+bin, err)
		}
		return func() {
			os.Remove(u.o.Marker)
			if err := u.o.SystemdRun(context.WithoutCancel(ctx), agentunit.SwapBackRunArgs(id, bin)); err != nil {
				u.o.Logger.Error("could not put the previous agent back; the rollback step does at the next start", "err", err)
			}
		}, nil
	}
	if err := linkOrCopy(bin, bin+agentunit.PrevSuffix); err != nil {
		return nil, hostError("keep the running agent as "+bin+agentunit.PrevSuffix, err)
	}
	if err := writeAtomic(u.o.Marker, m.Encode()); err != nil {
		return nil, hostError("write the upgrade marker", err)
	}
	undo = func() {
		os.Remove(u.o.Marker)
		_ = os.Rename(bin+agentunit.PrevSuffix, bin)
	}
	if err := os.Rename(staged, bin); err != nil {
		undo()
		return nil, hostError("put the new agent in place", err)
	}
	syncDir(filepath.Dir(bin))
	return undo, nil
}

// canUpgrade refuses hosts where an upgrade could not be undone or would
// fight the package manager.
func (u *Updater) canUpgrade() error {
	if _, err := os.Stat(u.o.Marker); err == nil {
		return &messages.Error{Code: messages.CodeConflict, Message: "an agent upgrade is pending on this host (" + u.o.Marker + "); wait for it to finish or roll back"}
	}
	for _, f := range u.o.UnitFiles {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return hostError("read the agent unit", err)
		}
		if !strings.Contains(string(b), "ExecStartPre=") || !strings.Contains(string(b), agentunit.UpgradeMarker) {
			return &messages.Error{Code: messages.CodeUnsupported, Message: fmt.Sprintf(
				"the agent unit %s has no rollback step (it predates agent self-update); run foundry host add for this host again, then upgrade", f)}
		}
		return nil
	}
	if len(u.o.UnitFiles) > 0 {
		return &messages.Error{Code: messages.CodeUnsupported, Message: "no foundry-agent unit found on this host; an agent not run by its unit cannot upgrade itself"}
	}
	return nil
}

// selfCheck runs the staged binary's `version`: it must start on this
// host and say it is the version the command names.
func selfCheck(ctx context.Context, bin, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf(
			"the new agent does not run on this host (%s version: %v); import a linux build for this architecture", bin, err)}
	}
	if got := strings.TrimSpace(string(out)); got != want {
		return &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf(
			"the new agent says it is version %q, not %q; import the build that was made for %s", clip(got, 64), want, want)}
	}
	return nil
}

// Confirm is the new agent's part, called once it has connected and its
// heartbeat with version reached the server: it removes the marker (the
// guard and the rollback step then do nothing) and any old failure
// record. It returns the marker it confirmed, or nil when there was none
// for this version.
func (u *Updater) Confirm(version string) (*agentunit.Marker, error) {
	b, err := os.ReadFile(u.o.Marker)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := agentunit.ParseMarker(b)
	if err != nil || m.To != version {
		// Not ours to confirm: the rollback step decides.
		return nil, err
	}
	if err := os.Remove(u.o.Marker); err != nil {
		return nil, err
	}
	syncDir(filepath.Dir(u.o.Marker))
	os.Remove(u.o.Record)
	return &m, nil
}

// LastFailure is the record the rollback step left, or nil.
func (u *Updater) LastFailure() *messages.AgentUpgradeAttempt {
	b, err := os.ReadFile(u.o.Record)
	if err != nil {
		return nil
	}
	r, err := agentunit.ParseFailedRecord(b)
	if err != nil {
		return nil
	}
	return &messages.AgentUpgradeAttempt{ID: clip(r.ID, 64), From: clip(r.From, 64), To: clip(r.To, 64), Reason: clip(r.Reason, 256), Time: r.Time}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// linkOrCopy makes dst the same bytes as src, replacing dst.
func linkOrCopy(src, dst string) error {
	os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

func writeAtomic(p string, b []byte) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(p))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func hostError(what string, err error) error {
	return &messages.Error{Code: messages.CodeInternal, Message: fmt.Sprintf("%s: %v; check disk space and permissions on the host", what, err)}
}
