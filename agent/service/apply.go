package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// run is one apply: what it found, and what it changed so far (the
// rollback undoes exactly that).
type run struct {
	m      *Manager
	spec   messages.ServiceSpec
	before observed
	unit   string // unit name

	created       []string // directories this run created, parents first
	versionDir    string
	binChanged    bool
	configChanged bool
	unitWritten   bool
	reloaded      bool
	enabled       bool // this run enabled the unit
	started       bool // this run started or restarted it
	oldRemoved    []string
}

// Apply brings the host to spec, step by step (messages.Step*), and
// returns what each step did. On failure it restores what the run
// changed, sets RolledBack and returns a *messages.Error naming the step.
func (m *Manager) Apply(ctx context.Context, spec messages.ServiceSpec) (messages.ServiceApplyReply, error) {
	reply := messages.ServiceApplyReply{Component: spec.Component, Version: spec.Version, Steps: []messages.ServiceStep{}}
	if err := spec.Validate(); err != nil {
		return reply, err
	}
	unlock, err := m.lock(ctx, spec.Component)
	if err != nil {
		return reply, err
	}
	defer unlock()
	before, err := m.observe(ctx, spec)
	if err != nil {
		return reply, err
	}
	r := &run{m: m, spec: spec, before: before, unit: messages.ServiceUnit(spec.Component),
		versionDir: m.path(messages.ServiceBinDir(spec.Component, spec.Version))}
	start := time.Now()
	steps := []struct {
		name string
		fn   func(context.Context) (bool, string, error)
	}{
		{messages.StepArtifact, r.artifact},
		{messages.StepConfig, r.config},
		{messages.StepUnit, r.unitStep},
		{messages.StepEnable, r.enable},
		{messages.StepStart, r.startStep},
		{messages.StepHealth, r.health},
	}
	for _, s := range steps {
		changed, detail, err := s.fn(ctx)
		if err != nil {
			we := stepError(s.name, err)
			reply.Steps = append(reply.Steps, messages.ServiceStep{Name: s.name, Changed: changed, Detail: we.Message})
			reply.Changed = reply.Changed || changed
			if r.changedAnything() {
				rbErrs := r.rollback(ctx)
				reply.RolledBack = len(rbErrs) == 0
				if len(rbErrs) == 0 {
					we.Message += "; " + r.restoredWhat()
				} else {
					we.Message += "; rolling back also failed: " + errors.Join(rbErrs...).Error()
				}
			}
			m.opts.Logger.Warn("service apply failed", "component", spec.Component, "version", spec.Version,
				"step", s.name, "err", we.Message, "rolled_back", reply.RolledBack)
			return reply, we
		}
		reply.Steps = append(reply.Steps, messages.ServiceStep{Name: s.name, Changed: changed, Detail: detail})
		reply.Changed = reply.Changed || changed
	}
	// Only the applied version stays; a failed apply kept the old one to
	// go back to, a successful one no longer needs it.
	for _, v := range before.versions {
		if v == spec.Version {
			continue
		}
		if err := os.RemoveAll(m.path(messages.ServiceBinDir(spec.Component, v))); err != nil {
			m.opts.Logger.Warn("old version not removed", "component", spec.Component, "version", v, "err", err)
			continue
		}
		r.oldRemoved = append(r.oldRemoved, v)
	}
	if len(r.oldRemoved) > 0 {
		reply.Steps[0].Changed = true
		reply.Steps[0].Detail += "; removed " + strings.Join(r.oldRemoved, ", ")
		reply.Changed = true
	}
	m.opts.Logger.Info("service applied", "component", spec.Component, "version", spec.Version,
		"changed", reply.Changed, "took", time.Since(start).Round(time.Millisecond))
	return reply, nil
}

func (r *run) changedAnything() bool {
	return len(r.created) > 0 || r.binChanged || r.configChanged || r.unitWritten || r.reloaded || r.enabled || r.started
}

func (r *run) restoredWhat() string {
	switch {
	case !r.before.unitExists:
		return "rolled back: nothing is left installed"
	case r.before.unit.Version != "":
		return "rolled back to " + r.before.unit.Version
	}
	return "rolled back"
}

func (r *run) artifact(ctx context.Context) (bool, string, error) {
	spec := r.spec
	if r.before.binSHA == strings.ToLower(spec.Artifact.SHA256) {
		return false, spec.Version + " present", nil
	}
	created, err := mkdirs(r.versionDir)
	r.created = append(r.created, created...)
	if err != nil {
		return false, "", hostError("create "+messages.ServiceBinDir(spec.Component, spec.Version), err)
	}
	if err := FetchArtifact(ctx, r.m.opts.Source, r.m.opts.Verifier, spec.Artifact, r.m.path(BinPath(spec))); err != nil {
		return false, "", err
	}
	r.binChanged = true
	return true, versionChange(r.before.unit.Version, spec.Version), nil
}

// configDiff is what the config step writes and removes: a file whose
// content, mode or owner differs is written again. It names files, never their
// content, since a file may be a secret.
func configDiff(have map[string]onDisk, want []messages.ServiceFile) (write, remove []string) {
	listed := map[string]bool{}
	for _, f := range want {
		listed[f.Name] = true
		if cur, ok := have[f.Name]; !ok || cur.content != f.Content || cur.mode != fileMode(f) || cur.foreign {
			write = append(write, f.Name)
		}
	}
	for name := range have {
		if !listed[name] {
			remove = append(remove, name)
		}
	}
	sort.Strings(remove)
	return write, remove
}

func configDetail(write, remove []string, n int) string {
	var parts []string
	if len(write) > 0 {
		parts = append(parts, "write "+strings.Join(write, ", "))
	}
	if len(remove) > 0 {
		parts = append(parts, "remove "+strings.Join(remove, ", "))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d files current", n)
	}
	return strings.Join(parts, "; ")
}

func (r *run) config(context.Context) (bool, string, error) {
	spec := r.spec
	write, remove := configDiff(r.before.config, spec.Files)
	if len(write) == 0 && len(remove) == 0 {
		return false, configDetail(nil, nil, len(spec.Files)), nil
	}
	confDir := layoutOf(spec.Component).configDir
	dir := r.m.path(confDir)
	created, err := mkdirs(dir)
	r.created = append(r.created, created...)
	if err != nil {
		return false, "", hostError("create "+confDir, err)
	}
	for _, f := range spec.Files {
		if !slices.Contains(write, f.Name) {
			continue
		}
		r.configChanged = true
		if err := writeFile(filepath.Join(dir, f.Name), []byte(f.Content), fileMode(f)); err != nil {
			return true, "", hostError("write "+f.Name, err)
		}
	}
	for _, name := range remove {
		r.configChanged = true
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return true, "", hostError("remove "+name, err)
		}
	}
	return true, configDetail(write, remove, len(spec.Files)), nil
}

func (r *run) unitStep(ctx context.Context) (bool, string, error) {
	text := Unit(r.spec)
	if r.before.unitExists && r.before.unitText == text {
		if !r.before.state.NeedDaemonReload {
			return false, r.unit + " current", nil
		}
		// The file is right but systemd runs an older copy.
		r.reloaded = true
		if err := r.m.sys.Reload(ctx); err != nil {
			return true, "", systemdError(r.unit, err)
		}
		return true, "daemon-reload (systemd had an older copy)", nil
	}
	p := r.m.path(UnitPath(r.spec.Component))
	created, err := mkdirs(filepath.Dir(p))
	r.created = append(r.created, created...)
	if err != nil {
		return false, "", hostError("create "+messages.ServiceUnitDir, err)
	}
	r.unitWritten = true
	if err := writeFile(p, []byte(text), 0o644); err != nil {
		return true, "", hostError("write "+UnitPath(r.spec.Component), err)
	}
	r.reloaded = true
	if err := r.m.sys.Reload(ctx); err != nil {
		return true, "", systemdError(r.unit, err)
	}
	if r.before.unitExists {
		return true, "rewrite " + r.unit, nil
	}
	return true, "write " + r.unit, nil
}

func (r *run) enable(ctx context.Context) (bool, string, error) {
	st, err := r.m.sys.State(ctx, r.unit)
	if err != nil {
		return false, "", systemdError(r.unit, err)
	}
	if st.Enabled() {
		return false, "enabled", nil
	}
	r.enabled = true
	if err := r.m.sys.Enable(ctx, r.unit); err != nil {
		return true, "", systemdError(r.unit, err)
	}
	return true, "enable " + r.unit, nil
}

func (r *run) filesChanged() []string {
	var why []string
	if r.binChanged {
		why = append(why, "artifact")
	}
	if r.configChanged {
		why = append(why, "config")
	}
	if r.unitWritten || r.reloaded {
		why = append(why, "unit")
	}
	return why
}

func (r *run) startStep(ctx context.Context) (bool, string, error) {
	st, err := r.m.sys.State(ctx, r.unit)
	if err != nil {
		return false, "", systemdError(r.unit, err)
	}
	why := r.filesChanged()
	switch {
	case !st.Running():
		r.started = true
		_ = r.m.sys.ResetFailed(ctx, r.unit)
		if err := r.m.sys.Start(ctx, r.unit); err != nil {
			return true, "", startError(r.unit, err)
		}
		return true, "start " + r.unit, nil
	case st.SubState == "auto-restart":
		// Crashed and waiting to be restarted: start it now, so the
		// health step judges a fresh start.
		why = append(why, "crashed")
		fallthrough
	case len(why) > 0:
		r.started = true
		_ = r.m.sys.ResetFailed(ctx, r.unit)
		if err := r.m.sys.Restart(ctx, r.unit); err != nil {
			return true, "", startError(r.unit, err)
		}
		return true, "restart " + r.unit + " (" + restartReason(why) + ")", nil
	}
	return false, fmt.Sprintf("running, pid %d", st.MainPID), nil
}

func restartReason(why []string) string {
	var parts []string
	if changed := slices.DeleteFunc(slices.Clone(why), func(s string) bool { return s == "crashed" }); len(changed) > 0 {
		parts = append(parts, strings.Join(changed, ", ")+" changed")
	}
	if slices.Contains(why, "crashed") {
		parts = append(parts, "it had crashed")
	}
	return strings.Join(parts, "; ")
}

func startError(unit string, err error) error {
	return &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
		"%v; see journalctl -u %s on the host", err, unit)}
}

// health polls the health URL until it answers OK. A service that exits
// or is restarted by systemd meanwhile fails the step at once rather than
// at the deadline.
func (r *run) health(ctx context.Context) (bool, string, error) {
	h := r.spec.Health
	base, err := r.m.sys.State(ctx, r.unit)
	if err != nil {
		return false, "", systemdError(r.unit, err)
	}
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, r.m.opts.HealthTimeout)
	defer cancel()
	last := "no answer yet"
	for {
		st, serr := r.m.sys.State(ctx, r.unit)
		if serr == nil && (st.NRestarts > base.NRestarts || st.SubState == "auto-restart" || !st.Running()) {
			return false, "", &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
				"%s %s (%s/%s) before %s answered OK (last: %s); see journalctl -u %s on the host",
				r.unit, exitWord(st, base), st.ActiveState, st.SubState, h.URL, last, r.unit)}
		}
		code, _, err := r.m.probe(hctx, h)
		switch {
		case err == nil && okStatus(h, code):
			return false, fmt.Sprintf("%s answered %d after %s", h.URL, code, time.Since(start).Round(10*time.Millisecond)), nil
		case err == nil:
			last = fmt.Sprintf("HTTP %d", code)
		case hctx.Err() == nil:
			last = err.Error()
		}
		select {
		case <-hctx.Done():
			if ctx.Err() != nil {
				return false, "", &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
					"%s: stopped waiting for %s (%v, last: %s); retry the apply", r.unit, h.URL, ctx.Err(), last)}
			}
			return false, "", &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
				"%s did not answer OK within %s (last: %s); see journalctl -u %s on the host",
				h.URL, r.m.opts.HealthTimeout, last, r.unit)}
		case <-time.After(r.m.opts.HealthInterval):
		}
	}
}

func exitWord(st, base UnitState) string {
	switch {
	case st.SubState == "auto-restart":
		return "exited and systemd is restarting it"
	case st.NRestarts > base.NRestarts:
		return "exited and was restarted"
	}
	return "exited"
}

func okStatus(h messages.ServiceHealth, code int) bool {
	if len(h.OK) == 0 {
		return code == http.StatusOK
	}
	return slices.Contains(h.OK, code)
}

// probe GETs the health URL once and returns the status and the body's
// first bytes. With a CA file the server's certificate must chain to it;
// the file is read each time, since the service may write it only once
// it runs (k3s creates its CA on first start).
func (m *Manager) probe(ctx context.Context, h messages.ServiceHealth) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, healthRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return 0, "", err
	}
	hc := m.http
	if h.CAFile != "" {
		if hc, err = m.caClient(h.CAFile); err != nil {
			return 0, "", err
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), nil
}

// rollback puts back what the run changed: files first, then systemd's
// view of them, then the running service. It runs on its own deadline,
// so an apply cancelled midway still leaves the host as it found it.
func (r *run) rollback(parent context.Context) []error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), rollbackTimeout)
	defer cancel()
	m, sys, b := r.m, r.m.sys, r.before
	var errs []error
	note := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	unitPath := m.path(UnitPath(r.spec.Component))
	fresh := !b.unitExists
	k3s := layoutOf(r.spec.Component).k3s
	if fresh && (r.unitWritten || r.started || r.enabled) {
		// A first install that failed: take the service away entirely.
		note("stop", sys.Stop(ctx, r.unit))
		if k3s {
			note("kill what k3s left running", sys.KillAll(ctx, r.unit, syscall.SIGKILL))
		}
		if r.enabled {
			note("disable", sys.Disable(ctx, r.unit))
		}
		if err := os.Remove(unitPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			note("remove unit", err)
		}
		note("daemon-reload", sys.Reload(ctx))
		_ = sys.ResetFailed(ctx, r.unit)
	}
	if !fresh && r.unitWritten {
		note("restore unit", writeFile(unitPath, []byte(b.unitText), 0o644))
	}
	if r.configChanged {
		note("restore config", r.restoreConfig())
	}
	if !fresh {
		if r.unitWritten || r.reloaded {
			note("daemon-reload", sys.Reload(ctx))
		}
		if r.enabled && !b.state.Enabled() {
			note("disable", sys.Disable(ctx, r.unit))
		}
		switch {
		case b.state.Running() && (r.started || len(r.filesChanged()) > 0):
			_ = sys.ResetFailed(ctx, r.unit)
			note("restart the previous version", sys.Restart(ctx, r.unit))
		case !b.state.Running() && r.started:
			note("stop", sys.Stop(ctx, r.unit))
			if k3s {
				note("kill what k3s left running", sys.KillAll(ctx, r.unit, syscall.SIGKILL))
			}
		}
	}
	if fresh && k3s && r.started {
		// What the k3s this run started wrote goes too, so the next
		// attempt starts clean (k3s refuses data bootstrapped with
		// another token).
		if !b.k3sData {
			note("remove "+messages.K3sDataDir, m.removeK3sTree(messages.K3sDataDir))
		}
		if !b.k3sDataParent {
			_ = os.Remove(m.path(filepath.Dir(messages.K3sDataDir))) // only if empty
		}
		if !b.k3sKubeconfig {
			if err := os.Remove(m.path(messages.K3sKubeconfigPath)); err != nil && !errors.Is(err, os.ErrNotExist) {
				note("remove "+messages.K3sKubeconfigPath, err)
			}
		}
	}
	// The previous version's files were never touched; only what this
	// run created goes.
	if slices.Contains(r.created, r.versionDir) {
		note("remove "+r.versionDir, os.RemoveAll(r.versionDir))
	}
	for i := len(r.created) - 1; i >= 0; i-- {
		_ = os.Remove(r.created[i]) // only if empty
	}
	return errs
}

// restoreConfig makes the files the agent owns in the config directory
// exactly the snapshot, modes included.
func (r *run) restoreConfig() error {
	l := layoutOf(r.spec.Component)
	dir := r.m.path(l.configDir)
	_, now, err := readConfigDir(dir, l.owns)
	if err != nil {
		return err
	}
	var errs []error
	for name := range now {
		if _, keep := r.before.config[name]; !keep {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	for name, was := range r.before.config {
		if cur, ok := now[name]; !ok || cur != was {
			errs = append(errs, writeFile(filepath.Join(dir, name), []byte(was.content), was.mode))
		}
	}
	return errors.Join(errs...)
}

// Plan runs the apply's checks and says what each step would change. It
// changes nothing and fetches nothing.
func (m *Manager) Plan(ctx context.Context, spec messages.ServiceSpec) (messages.ServiceApplyReply, error) {
	reply := messages.ServiceApplyReply{Component: spec.Component, Version: spec.Version, Steps: []messages.ServiceStep{}}
	if err := spec.Validate(); err != nil {
		return reply, err
	}
	o, err := m.observe(ctx, spec)
	if err != nil {
		return reply, err
	}
	add := func(name string, changed bool, detail string) {
		reply.Steps = append(reply.Steps, messages.ServiceStep{Name: name, Changed: changed, Detail: detail})
		reply.Changed = reply.Changed || changed
	}
	unitName := messages.ServiceUnit(spec.Component)
	var why []string

	var old []string
	for _, v := range o.versions {
		if v != spec.Version {
			old = append(old, v)
		}
	}
	binChanged := o.binSHA != strings.ToLower(spec.Artifact.SHA256)
	detail := spec.Version + " present"
	if binChanged {
		why = append(why, "artifact")
		detail = versionChange(o.unit.Version, spec.Version)
		if o.binSHA != "" {
			detail += " (the installed binary differs from the signed one)"
		}
		if err := VerifyRef(m.opts.Verifier, spec.Artifact); err != nil {
			detail += "; but " + err.Error()
		}
	}
	if len(old) > 0 {
		detail += "; remove " + strings.Join(old, ", ")
	}
	add(messages.StepArtifact, binChanged || len(old) > 0, detail)

	write, remove := configDiff(o.config, spec.Files)
	if len(write)+len(remove) > 0 {
		why = append(why, "config")
	}
	add(messages.StepConfig, len(write)+len(remove) > 0, configDetail(write, remove, len(spec.Files)))

	switch text := Unit(spec); {
	case !o.unitExists:
		why = append(why, "unit")
		add(messages.StepUnit, true, "write "+unitName)
	case o.unitText != text:
		why = append(why, "unit")
		add(messages.StepUnit, true, "rewrite "+unitName)
	case o.state.NeedDaemonReload:
		why = append(why, "unit")
		add(messages.StepUnit, true, "daemon-reload (systemd has an older copy)")
	default:
		add(messages.StepUnit, false, unitName+" current")
	}

	if o.state.Enabled() {
		add(messages.StepEnable, false, "enabled")
	} else {
		add(messages.StepEnable, true, "enable "+unitName)
	}

	switch {
	case !o.state.Running():
		add(messages.StepStart, true, "start "+unitName)
	case o.state.SubState == "auto-restart":
		add(messages.StepStart, true, "restart "+unitName+" ("+restartReason(append(why, "crashed"))+")")
	case len(why) > 0:
		add(messages.StepStart, true, "restart "+unitName+" ("+restartReason(why)+")")
	default:
		add(messages.StepStart, false, fmt.Sprintf("running, pid %d", o.state.MainPID))
	}
	add(messages.StepHealth, false, "check "+spec.Health.URL)
	return reply, nil
}
