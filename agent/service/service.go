// Package service runs a component as a native systemd service on the
// agent's host: the executor of service_apply, service_plan,
// service_status and service_remove (see messages/service.go for the
// contract and the fixed host layout).
//
// Every step checks before it changes, so a second apply on a converged
// host changes nothing and restarts nothing. An apply is all or nothing:
// when a step fails, what the run changed is put back (previous unit,
// configuration and running version; or nothing at all after a failed
// first install). State is read from the host each time (the unit file on
// disk, the binary's digest, systemd), never from a record kept aside.
package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// Defaults of Options.
const (
	DefaultHealthTimeout  = 60 * time.Second
	DefaultHealthInterval = 500 * time.Millisecond
	healthRequestTimeout  = 5 * time.Second
	maxHealthBody         = 2 << 10
	rollbackTimeout       = 2 * time.Minute
)

// Options are the executor's dependencies.
type Options struct {
	// Root prefixes every host path ("" in production; tests use a
	// temporary directory with a fake Systemd).
	Root string
	// Systemd drives units; nil means &DBus{}.
	Systemd Systemd
	// Source serves artifact bytes (the controller's object store).
	Source Source
	// Verifier holds the keys artifacts must be signed with: the agent's.
	Verifier *messages.Verifier
	Logger   *slog.Logger
	// HealthTimeout bounds the health step (DefaultHealthTimeout).
	HealthTimeout time.Duration
	// HealthInterval is the pause between health probes.
	HealthInterval time.Duration
	// HTTP makes the health requests; nil means a client without
	// proxies or keep-alives.
	HTTP *http.Client
}

// Manager executes the service verbs. It is safe for concurrent use;
// operations on one component are serialized.
type Manager struct {
	opts Options
	sys  Systemd
	http *http.Client

	mu    sync.Mutex
	locks map[string]chan struct{}
}

// New returns a Manager.
func New(o Options) *Manager {
	if o.Systemd == nil {
		o.Systemd = &DBus{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	return &Manager{opts: o, sys: o.Systemd, http: hc, locks: map[string]chan struct{}{}}
}

// lock takes the component's lock, or gives up when ctx ends.
func (m *Manager) lock(ctx context.Context, component string) (func(), error) {
	m.mu.Lock()
	l, ok := m.locks[component]
	if !ok {
		l = make(chan struct{}, 1)
		m.locks[component] = l
	}
	m.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
			"another operation on %s is still running; retry when it has finished", component)}
	}
}

// path maps a host path under Root.
func (m *Manager) path(p string) string {
	if m.opts.Root == "" {
		return p
	}
	return filepath.Join(m.opts.Root, p)
}

// observed is the host's state for one spec, read before anything
// changes; it is both the plan's input and the rollback's snapshot.
type observed struct {
	unitExists bool
	unitText   string
	unit       unitInfo
	// binSHA is the digest of the spec's binary path ("" when absent).
	binSHA       string
	configExists bool
	config       map[string]onDisk // the files the agent owns in the config dir
	state        UnitState
	// versions are the installed version directories of the component.
	versions []string
	// k3sData, k3sDataParent and k3sKubeconfig say whether k3s had left
	// its data (and /var/lib/rancher) and kubeconfig before this run (a
	// failed first install removes what the k3s it started wrote).
	k3sData, k3sDataParent, k3sKubeconfig bool
}

// onDisk is a config file as found. Content may be a secret: it is
// compared and restored, never shown.
type onDisk struct {
	content string
	mode    fs.FileMode
	// foreign: owned by someone other than the agent (root), who could
	// change it; such a file is written again.
	foreign bool
}

func (m *Manager) observe(ctx context.Context, spec messages.ServiceSpec) (observed, error) {
	var o observed
	c := spec.Component
	l := layoutOf(c)
	b, err := os.ReadFile(m.path(UnitPath(c)))
	switch {
	case err == nil:
		o.unitExists, o.unitText, o.unit = true, string(b), parseUnit(string(b))
	case !errors.Is(err, os.ErrNotExist):
		return o, hostError("read unit "+UnitPath(c), err)
	}
	if o.binSHA, err = fileSHA256(m.path(BinPath(spec))); err != nil {
		return o, hostError("read "+BinPath(spec), err)
	}
	if o.configExists, o.config, err = readConfigDir(m.path(l.configDir), l.owns); err != nil {
		return o, hostError("read "+l.configDir, err)
	}
	if o.versions, err = listDirs(m.path(filepath.Join(messages.ServiceBinRoot, c))); err != nil {
		return o, hostError("read "+filepath.Join(messages.ServiceBinRoot, c), err)
	}
	if l.k3s {
		o.k3sData, o.k3sKubeconfig = exists(m.path(messages.K3sDataDir)), exists(m.path(messages.K3sKubeconfigPath))
		o.k3sDataParent = exists(m.path(filepath.Dir(messages.K3sDataDir)))
	}
	if o.state, err = m.sys.State(ctx, messages.ServiceUnit(c)); err != nil {
		return o, systemdError(messages.ServiceUnit(c), err)
	}
	return o, nil
}

// readConfigDir reads the regular files in dir that owns accepts.
func readConfigDir(dir string, owns func(string) bool) (bool, map[string]onDisk, error) {
	out := map[string]onDisk{}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, out, nil
	}
	if err != nil {
		return false, nil, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || !owns(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			return true, nil, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return true, nil, err
		}
		d := onDisk{content: string(b), mode: st.Mode().Perm(), foreign: foreignOwner(st)}
		out[e.Name()] = d
	}
	return true, out, nil
}

func listDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// mkdirs creates p and its missing parents with mode 0755 (set
// explicitly: the agent runs with umask 0077, and the service's dynamic
// user must be able to reach its binary and configuration). It returns
// the directories it created, parents first.
func mkdirs(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err == nil {
		if !st.IsDir() {
			return nil, fmt.Errorf("%s exists and is not a directory", p)
		}
		return nil, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	created, err := mkdirs(filepath.Dir(p))
	if err != nil {
		return created, err
	}
	if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return created, err
	}
	if err := os.Chmod(p, 0o755); err != nil {
		return created, err
	}
	return append(created, p), nil
}

// writeFile replaces p atomically with data (temporary file in the same
// directory, fsync, rename).
func writeFile(p string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

func systemdError(unit string, err error) error {
	var we *messages.Error
	if errors.As(err, &we) {
		return err
	}
	return &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
		"systemd: %v; check systemctl status %s on the host", err, unit)}
}

// stepError names the failed step in the error's message, keeping its code.
func stepError(step string, err error) *messages.Error {
	we := messages.AsError(err)
	msg := we.Message
	if !strings.HasPrefix(msg, step+" ") && !strings.HasPrefix(msg, step+":") {
		msg = step + ": " + msg
	}
	return &messages.Error{Code: we.Code, Message: msg}
}

// versionChange says how an install moves from one version to another.
func versionChange(from, to string) string {
	switch {
	case from == "":
		return "install " + to
	case from == to:
		return "reinstall " + to
	case messages.CompareVersions(to, from) > 0:
		return "upgrade " + from + " → " + to
	default:
		return "downgrade " + from + " → " + to
	}
}
