package service

import (
	"context"
	"errors"
	"os"
	"path"
	"syscall"

	"github.com/foundry-fleet/foundry/messages"
)

// Status reports what is really on the host: the unit on disk (its
// header says which version and digest were applied), the digest of the
// binary it starts, systemd's view, and optionally one health GET. It
// takes no lock, so it answers even while an apply runs.
func (m *Manager) Status(ctx context.Context, q messages.ServiceQuery) (messages.ServiceStatus, error) {
	st := messages.ServiceStatus{Component: q.Component}
	if err := messages.ValidComponent(q.Component); err != nil {
		return st, err
	}
	unit := messages.ServiceUnit(q.Component)
	b, err := os.ReadFile(m.path(UnitPath(q.Component)))
	switch {
	case err == nil:
		st.Installed = true
		u := parseUnit(string(b))
		st.Version = u.Version
		if u.Binary != "" {
			if st.BinarySHA256, err = fileSHA256(m.path(u.Binary)); err != nil {
				return st, hostError("read "+u.Binary, err)
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		return st, hostError("read "+UnitPath(q.Component), err)
	}
	s, err := m.sys.State(ctx, unit)
	if err != nil {
		return st, systemdError(unit, err)
	}
	st.Enabled = s.Enabled()
	if s.LoadState == "loaded" || st.Installed {
		st.ActiveState, st.SubState, st.MainPID, st.NRestarts = s.ActiveState, s.SubState, s.MainPID, s.NRestarts
		if !s.ActiveSince.IsZero() {
			st.ActiveSince = s.ActiveSince.UnixMilli()
		}
	}
	if q.Health != nil && q.Health.URL != "" {
		code, body, err := m.probe(ctx, *q.Health)
		st.HealthStatus, st.HealthBody = code, body
		if err != nil {
			st.HealthError = err.Error()
		}
	}
	return st, nil
}

// Remove stops and disables the service and deletes its unit,
// configuration and binaries; Purge also deletes its data. It is
// idempotent: removing what is not there changes nothing. For k3s it also
// kills what k3s left running in its cgroup (its containers), keeps
// k3s.yaml and the data unless purged, and a purge removes
// K3sConfigDir and K3sDataDir after detaching mounts under them.
func (m *Manager) Remove(ctx context.Context, q messages.ServiceQuery) (messages.ServiceRemoveReply, error) {
	reply := messages.ServiceRemoveReply{Component: q.Component, Removed: []string{}}
	if err := messages.ValidComponent(q.Component); err != nil {
		return reply, err
	}
	unlock, err := m.lock(ctx, q.Component)
	if err != nil {
		return reply, err
	}
	defer unlock()
	c, unit := q.Component, messages.ServiceUnit(q.Component)
	s, err := m.sys.State(ctx, unit)
	if err != nil {
		return reply, systemdError(unit, err)
	}
	fail := func(step string, err error) (messages.ServiceRemoveReply, error) {
		reply.Changed = len(reply.Removed) > 0
		we := messages.AsError(err)
		return reply, &messages.Error{Code: we.Code, Message: "remove " + c + ": " + step + ": " + we.Message}
	}
	l := layoutOf(c)
	if s.Running() || s.ActiveState == "deactivating" {
		if err := m.sys.Stop(ctx, unit); err != nil {
			return fail("stop "+unit, systemdError(unit, err))
		}
		reply.Removed = append(reply.Removed, "stopped "+unit)
	}
	if l.k3s && s.LoadState == "loaded" {
		// KillMode=process stopped k3s alone; its containers (shims and
		// their children) are still in the cgroup.
		if err := m.sys.KillAll(ctx, unit, syscall.SIGKILL); err != nil {
			return fail("kill what "+unit+" left running", systemdError(unit, err))
		}
	}
	if s.Enabled() {
		if err := m.sys.Disable(ctx, unit); err != nil {
			return fail("disable "+unit, systemdError(unit, err))
		}
		reply.Removed = append(reply.Removed, "disabled "+unit)
	}
	up := UnitPath(c)
	if exists(m.path(up)) {
		if err := os.Remove(m.path(up)); err != nil {
			return fail("remove "+up, hostError("remove "+up, err))
		}
		reply.Removed = append(reply.Removed, up)
		if err := m.sys.Reload(ctx); err != nil {
			return fail("daemon-reload", systemdError(unit, err))
		}
	}
	if s.ActiveState == "failed" || len(reply.Removed) > 0 {
		_ = m.sys.ResetFailed(ctx, unit)
	}
	var paths []string
	if l.k3s && !q.Purge {
		// Only the agent's files: k3s.yaml and the data stay for a
		// reinstall unless purged.
		for _, name := range messages.K3sFiles {
			paths = append(paths, path.Join(l.configDir, name))
		}
	}
	paths = append(paths, l.removeDirs...)
	if q.Purge {
		paths = append(paths, l.purgeDirs...)
	}
	for _, d := range paths {
		if !exists(m.path(d)) {
			continue
		}
		var err error
		if l.k3s && q.Purge {
			err = m.removeK3sTree(d)
		} else {
			err = os.RemoveAll(m.path(d))
		}
		if err != nil {
			return fail("remove "+d, hostError("remove "+d, err))
		}
		reply.Removed = append(reply.Removed, d)
	}
	reply.Changed = len(reply.Removed) > 0
	if reply.Changed {
		m.opts.Logger.Info("service removed", "component", c, "purge", q.Purge, "removed", reply.Removed)
	}
	return reply, nil
}
