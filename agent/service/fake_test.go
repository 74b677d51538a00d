package service

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// FakeSystemd is a TEST DOUBLE of systemd, in test code only: PID 1 is
// not systemd on the machines the unit tests run on, so the step logic
// (check, change, roll back) is exercised here against this double, and
// against real systemd in e2e/service_test.go and e2e/components_test.go.
// It keeps unit state in memory and reads unit files under Root, as PID 1
// would on daemon-reload; it runs nothing.
type FakeSystemd struct {
	Root string

	mu    sync.Mutex
	units map[string]*fakeUnit
	pid   uint32
	// Counters of what was asked.
	Reloads, Starts, Restarts, Stops int
	// Calls lists stops and kills in order ("stop:<unit>", "kill:<unit>").
	Calls []string
	// Crash makes started units crash-loop (activating/auto-restart).
	Crash bool
	// OnStart, when set, runs (under the fake's lock) each time a unit
	// is started or restarted: what the service would write as it runs.
	OnStart func(unit string)
}

type fakeUnit struct {
	loaded    string // unit text as of the last reload, "" when none
	enabled   bool
	active    bool
	sub       string
	pid       uint32
	nrestarts uint32
	since     time.Time
}

func (f *FakeSystemd) unit(name string) *fakeUnit {
	if f.units == nil {
		f.units = map[string]*fakeUnit{}
	}
	u, ok := f.units[name]
	if !ok {
		u = &fakeUnit{}
		f.units[name] = u
	}
	return u
}

func (f *FakeSystemd) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(f.Root, messages.ServiceUnitDir, name))
	return string(b)
}

func (f *FakeSystemd) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Reloads++
	ents, _ := os.ReadDir(filepath.Join(f.Root, messages.ServiceUnitDir))
	seen := map[string]bool{}
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".service" {
			seen[e.Name()] = true
			f.unit(e.Name()).loaded = f.file(e.Name())
		}
	}
	for name, u := range f.units {
		if !seen[name] {
			u.loaded = ""
		}
	}
	return nil
}

func (f *FakeSystemd) Enable(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file(name) == "" {
		return fmt.Errorf("Unit file %s does not exist", name)
	}
	f.unit(name).enabled = true
	return nil
}

func (f *FakeSystemd) Disable(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unit(name).enabled = false
	return nil
}

func (f *FakeSystemd) run(name string) error {
	u := f.unit(name)
	if u.loaded == "" {
		return fmt.Errorf("Unit %s not found", name)
	}
	f.pid++
	u.active, u.pid, u.since, u.sub, u.nrestarts = true, f.pid, time.Now(), "running", 0
	if f.OnStart != nil {
		f.OnStart(name)
	}
	if f.Crash {
		u.sub, u.pid = "auto-restart", 0
	}
	return nil
}

func (f *FakeSystemd) Start(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Starts++
	if f.unit(name).active {
		return nil
	}
	return f.run(name)
}

func (f *FakeSystemd) Restart(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Restarts++
	return f.run(name)
}

func (f *FakeSystemd) Stop(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Stops++
	f.Calls = append(f.Calls, "stop:"+name)
	u := f.unit(name)
	u.active, u.pid, u.sub, u.since = false, 0, "dead", time.Time{}
	return nil
}

func (f *FakeSystemd) ResetFailed(context.Context, string) error { return nil }

func (f *FakeSystemd) KillAll(_ context.Context, name string, _ syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, "kill:"+name)
	return nil
}

func (f *FakeSystemd) State(_ context.Context, name string) (UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.unit(name)
	s := UnitState{LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}
	if u.loaded != "" {
		s.LoadState, s.UnitFileState = "loaded", "disabled"
		if u.enabled {
			s.UnitFileState = "enabled"
		}
		s.NeedDaemonReload = f.file(name) != u.loaded
	}
	if u.active {
		s.ActiveState, s.SubState, s.MainPID, s.NRestarts, s.ActiveSince = "active", u.sub, u.pid, u.nrestarts, u.since
		if u.sub == "auto-restart" {
			s.ActiveState = "activating"
		}
	}
	return s, nil
}

// MemSource is an artifact Source in memory.
type MemSource struct {
	mu      sync.Mutex
	Objects map[string][]byte
	Opens   int
}

func (m *MemSource) Open(_ context.Context, name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Opens++
	b, ok := m.Objects[name]
	if !ok {
		return nil, ErrArtifactNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestKeys signs artifacts the way the controller does.
type TestKeys struct {
	Signer   *messages.Signer
	Verifier *messages.Verifier
}

func NewTestKeys() TestKeys {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s := messages.NewSigner(key)
	return TestKeys{Signer: s, Verifier: messages.NewVerifier([]ed25519.PublicKey{s.PublicKey()}, nil)}
}

// Ref signs data as component/version/file.
func (k TestKeys) Ref(component, version, file string, data []byte) messages.ArtifactRef {
	sum := sha256.Sum256(data)
	hexsum := hex.EncodeToString(sum[:])
	kid, sig := k.Signer.SignBytes(messages.ArtifactSigningBytes(component, version, file, int64(len(data)), hexsum))
	return messages.ArtifactRef{Component: component, Version: version, File: file, Size: int64(len(data)),
		SHA256: hexsum, KeyID: kid, Sig: sig}
}
