package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// Systemd is what the executor asks of the service manager. The real one
// talks to PID 1 over D-Bus (DBus); tests use a fake.
type Systemd interface {
	// Reload is daemon-reload.
	Reload(ctx context.Context) error
	Enable(ctx context.Context, unit string) error
	Disable(ctx context.Context, unit string) error
	// Start, Restart and Stop wait until systemd's job has finished and
	// fail unless it finished as "done".
	Start(ctx context.Context, unit string) error
	Restart(ctx context.Context, unit string) error
	Stop(ctx context.Context, unit string) error
	ResetFailed(ctx context.Context, unit string) error
	// KillAll sends signal to every process left in the unit's cgroup
	// (systemctl kill --kill-whom=all); nothing left is not an error.
	KillAll(ctx context.Context, unit string, signal syscall.Signal) error
	State(ctx context.Context, unit string) (UnitState, error)
}

// UnitState is systemd's view of a unit.
type UnitState struct {
	LoadState   string // loaded, not-found, ...
	ActiveState string // active, inactive, failed, activating, ...
	SubState    string
	// UnitFileState is enabled, disabled, ... ("" when there is no file).
	UnitFileState    string
	MainPID          uint32
	NRestarts        uint32
	ActiveSince      time.Time // zero when never active
	NeedDaemonReload bool
}

// Enabled reports whether the unit starts at boot.
func (s UnitState) Enabled() bool { return s.UnitFileState == "enabled" }

// Running reports whether the unit is active or on its way there (which
// includes waiting to restart after a crash).
func (s UnitState) Running() bool {
	return s.ActiveState == "active" || s.ActiveState == "activating" || s.ActiveState == "reloading"
}

// DBus is Systemd over the system bus (or systemd's private socket when
// no bus daemon runs). It keeps one connection and redials it when it
// drops. It is safe for concurrent use.
type DBus struct {
	mu   sync.Mutex
	conn *sd.Conn
}

func (d *DBus) get(ctx context.Context) (*sd.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil && d.conn.Connected() {
		return d.conn, nil
	}
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	// Not ctx: the connection outlives the operation that dialed it
	// (godbus closes a connection when its context ends).
	c, err := sd.NewWithContext(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("connect to systemd over D-Bus: %w", err)
	}
	d.conn = c
	return c, nil
}

// Close drops the connection.
func (d *DBus) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
}

// Reload implements Systemd.
func (d *DBus) Reload(ctx context.Context) error {
	c, err := d.get(ctx)
	if err != nil {
		return err
	}
	if err := c.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload: %w", err)
	}
	return nil
}

// Enable implements Systemd; it reloads so UnitFileState is current.
func (d *DBus) Enable(ctx context.Context, unit string) error {
	c, err := d.get(ctx)
	if err != nil {
		return err
	}
	if _, _, err := c.EnableUnitFilesContext(ctx, []string{unit}, false, true); err != nil {
		return fmt.Errorf("enable %s: %w", unit, err)
	}
	return d.Reload(ctx)
}

// Disable implements Systemd; it reloads so UnitFileState is current.
func (d *DBus) Disable(ctx context.Context, unit string) error {
	c, err := d.get(ctx)
	if err != nil {
		return err
	}
	if _, err := c.DisableUnitFilesContext(ctx, []string{unit}, false); err != nil {
		return fmt.Errorf("disable %s: %w", unit, err)
	}
	return d.Reload(ctx)
}

type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

func (d *DBus) job(ctx context.Context, what, unit string, fn func(*sd.Conn) jobFunc) error {
	c, err := d.get(ctx)
	if err != nil {
		return err
	}
	ch := make(chan string, 1)
	if _, err := fn(c)(ctx, unit, "replace", ch); err != nil {
		return fmt.Errorf("%s %s: %w", what, unit, err)
	}
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("%s %s: systemd job %s", what, unit, res)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", what, unit, ctx.Err())
	}
}

// Start implements Systemd.
func (d *DBus) Start(ctx context.Context, unit string) error {
	return d.job(ctx, "start", unit, func(c *sd.Conn) jobFunc { return c.StartUnitContext })
}

// Restart implements Systemd.
func (d *DBus) Restart(ctx context.Context, unit string) error {
	return d.job(ctx, "restart", unit, func(c *sd.Conn) jobFunc { return c.RestartUnitContext })
}

// Stop implements Systemd. Stopping a unit systemd does not know is not
// an error.
func (d *DBus) Stop(ctx context.Context, unit string) error {
	err := d.job(ctx, "stop", unit, func(c *sd.Conn) jobFunc { return c.StopUnitContext })
	if isNoSuchUnit(err) {
		return nil
	}
	return err
}

// ResetFailed implements Systemd; a unit that is not failed or not
// loaded is not an error.
func (d *DBus) ResetFailed(ctx context.Context, unit string) error {
	c, err := d.get(ctx)
	if err != nil {
		return err
	}
	if err := c.ResetFailedUnitContext(ctx, unit); err != nil && !isNoSuchUnit(err) {
		return fmt.Errorf("reset-failed %s: %w", unit, err)
	}
	return nil
}

// KillAll implements Systemd.
func (d *DBus) KillAll(ctx context.Context, unit string, signal syscall.Signal) error {
	c, err := d.get(ctx)
	if err != nil {
		return err
	}
	err = c.KillUnitWithTarget(ctx, unit, sd.All, int32(signal))
	var de godbus.Error
	if err == nil || isNoSuchUnit(err) || (errors.As(err, &de) && de.Name == "org.freedesktop.systemd1.NoSuchProcess") {
		return nil
	}
	return fmt.Errorf("kill the processes of %s: %w", unit, err)
}

func isNoSuchUnit(err error) bool {
	var de godbus.Error
	if errors.As(err, &de) {
		return de.Name == "org.freedesktop.systemd1.NoSuchUnit"
	}
	return err != nil && strings.Contains(err.Error(), "not loaded")
}

// State implements Systemd.
func (d *DBus) State(ctx context.Context, unit string) (UnitState, error) {
	var s UnitState
	c, err := d.get(ctx)
	if err != nil {
		return s, err
	}
	p, err := c.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return s, fmt.Errorf("read state of %s: %w", unit, err)
	}
	s.LoadState, _ = p["LoadState"].(string)
	s.ActiveState, _ = p["ActiveState"].(string)
	s.SubState, _ = p["SubState"].(string)
	s.UnitFileState, _ = p["UnitFileState"].(string)
	s.NeedDaemonReload, _ = p["NeedDaemonReload"].(bool)
	if us, _ := p["ActiveEnterTimestamp"].(uint64); us > 0 && s.ActiveState == "active" {
		s.ActiveSince = time.UnixMicro(int64(us))
	}
	if s.LoadState != "loaded" {
		return s, nil
	}
	sp, err := c.GetUnitTypePropertiesContext(ctx, unit, "Service")
	if err != nil {
		return s, fmt.Errorf("read service state of %s: %w", unit, err)
	}
	s.MainPID, _ = sp["MainPID"].(uint32)
	s.NRestarts, _ = sp["NRestarts"].(uint32)
	return s, nil
}
