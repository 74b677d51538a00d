package selfupdate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/messages"
)

// memSource is an artifact store in memory.
type memSource map[string][]byte

func (m memSource) Open(_ context.Context, name string) (io.ReadCloser, error) {
	b, ok := m[name]
	if !ok {
		return nil, service.ErrArtifactNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// fakeAgent is a shell script that answers `version` like foundry-agent.
func fakeAgent(version string) []byte {
	return []byte("#!/bin/sh\n[ \"$1\" = version ] && echo " + version + "\n")
}

type fixture struct {
	t       *testing.T
	dir     string
	u       *Updater
	src     memSource
	signer  *messages.Signer
	systemd [][]string
	unit    string
}

func newFixture(t *testing.T) *fixture {
	_, priv, _ := ed25519.GenerateKey(nil)
	f := &fixture{t: t, dir: t.TempDir(), src: memSource{}, signer: messages.NewSigner(priv)}
	f.unit = filepath.Join(f.dir, "foundry-agent.service")
	if err := os.WriteFile(f.unit, []byte(agentunit.Unit(agentunit.Options{})), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(f.dir, "foundry-agent")
	if err := os.WriteFile(bin, fakeAgent("1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.u = New(Options{Binary: bin, Marker: filepath.Join(f.dir, "agent-upgrade"), Record: filepath.Join(f.dir, "agent-upgrade.failed"),
		UnitFiles: []string{filepath.Join(f.dir, "missing.service"), f.unit}, Source: f.src,
		Verifier: messages.NewVerifier([]ed25519.PublicKey{f.signer.PublicKey()}, nil), Arch: "amd64",
		SystemdRun: func(_ context.Context, args []string) error { f.systemd = append(f.systemd, args); return nil },
		Now:        func() time.Time { return time.Unix(1_000_000, 0) }})
	return f
}

// publish stores b as foundry-agent <version> and returns the signed ref.
func (f *fixture) publish(version string, b []byte) messages.ArtifactRef {
	file := "foundry-agent_" + version + "_linux_amd64"
	sum := sha256.Sum256(b)
	ref := messages.ArtifactRef{Component: messages.AgentComponent, Version: version, File: file, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	ref.KeyID, ref.Sig = f.signer.SignBytes(messages.ArtifactSigningBytes(ref.Component, version, file, ref.Size, ref.SHA256))
	f.src[ref.ObjectName()] = b
	return ref
}

func (f *fixture) read(name string) string {
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		return "<absent>"
	}
	return string(b)
}

func (f *fixture) unchanged() {
	f.t.Helper()
	if got := f.read("foundry-agent"); got != string(fakeAgent("1.0.0")) {
		f.t.Errorf("binary changed: %q", got)
	}
	for _, n := range []string{"foundry-agent.new", "foundry-agent.prev", "agent-upgrade"} {
		if f.read(n) != "<absent>" {
			f.t.Errorf("%s left behind", n)
		}
	}
	if len(f.systemd) != 0 {
		f.t.Errorf("systemd asked: %q", f.systemd)
	}
}

func TestUpgradeSwitchesBinaryWritesMarkerAndRestarts(t *testing.T) {
	f := newFixture(t)
	ref := f.publish("1.1.0", fakeAgent("1.1.0"))
	rep, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd1", messages.AgentUpgrade{Version: "1.1.0", Artifacts: []messages.ArtifactRef{ref}, DeadlineMs: 30_000})
	if err != nil || !rep.Changed || rep.Detail != "upgrade 1.0.0 → 1.1.0" {
		t.Fatalf("Upgrade = %+v, %v", rep, err)
	}
	if f.read("foundry-agent") != string(fakeAgent("1.1.0")) || f.read("foundry-agent.prev") != string(fakeAgent("1.0.0")) {
		t.Errorf("binaries: now %q, prev %q", f.read("foundry-agent"), f.read("foundry-agent.prev"))
	}
	m, err := agentunit.ParseMarker([]byte(f.read("agent-upgrade")))
	want := agentunit.Marker{ID: "cmd1", From: "1.0.0", To: "1.1.0", Deadline: 1_000_030}
	if err != nil || m != want {
		t.Errorf("marker %+v %v, want %+v", m, err, want)
	}
	// The guard first, then the restart: a restart without a guard could
	// leave a new agent that never connects in place.
	if len(f.systemd) != 2 || !strings.HasPrefix(f.systemd[0][0], "--unit="+agentunit.GuardUnit) || !strings.HasPrefix(f.systemd[1][0], "--unit="+agentunit.RestartUnit) {
		t.Errorf("systemd-run calls %q", f.systemd)
	}
	if f.read("foundry-agent.new") != "<absent>" {
		t.Error("staged binary left behind")
	}
}

func TestUpgradeToTheRunningVersionIsANoOp(t *testing.T) {
	f := newFixture(t)
	ref := f.publish("1.0.0", fakeAgent("1.0.0"))
	rep, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd", messages.AgentUpgrade{Version: "1.0.0", Artifacts: []messages.ArtifactRef{ref}})
	if err != nil || rep.Changed || rep.Detail != "already at 1.0.0" {
		t.Fatalf("%+v %v", rep, err)
	}
	f.unchanged()
}

func TestUpgradeRefusesADowngradeUnlessAllowed(t *testing.T) {
	f := newFixture(t)
	ref := f.publish("0.9.0", fakeAgent("0.9.0"))
	req := messages.AgentUpgrade{Version: "0.9.0", Artifacts: []messages.ArtifactRef{ref}}
	_, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd", req)
	if messages.CodeOf(err) != messages.CodeConflict || !strings.Contains(err.Error(), "--allow-downgrade") {
		t.Fatalf("downgrade: %v", err)
	}
	f.unchanged()
	req.AllowDowngrade = true
	if rep, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd", req); err != nil || !rep.Changed || !strings.HasPrefix(rep.Detail, "downgrade") {
		t.Fatalf("allowed downgrade: %+v %v", rep, err)
	}
}

func TestUpgradeRefusesATamperedArtifactAndChangesNothing(t *testing.T) {
	f := newFixture(t)
	ref := f.publish("1.1.0", fakeAgent("1.1.0"))
	f.src[ref.ObjectName()] = fakeAgent("6.6.6")
	_, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd", messages.AgentUpgrade{Version: "1.1.0", Artifacts: []messages.ArtifactRef{ref}})
	if messages.CodeOf(err) != messages.CodeBadSignature {
		t.Fatalf("tampered artifact: %v", err)
	}
	f.unchanged()
}

func TestUpgradeRefusesABuildThatIsNotTheVersionItClaims(t *testing.T) {
	f := newFixture(t)
	ref := f.publish("1.1.0", fakeAgent("1.0.5"))
	_, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd", messages.AgentUpgrade{Version: "1.1.0", Artifacts: []messages.ArtifactRef{ref}})
	if err == nil || !strings.Contains(err.Error(), `says it is version "1.0.5"`) {
		t.Fatalf("self-check: %v", err)
	}
	f.unchanged()
}

func TestUpgradeRefusesAUnitWithoutTheRollbackStep(t *testing.T) {
	f := newFixture(t)
	old := strings.ReplaceAll(agentunit.Unit(agentunit.Options{}), agentunit.PrestartLine(agentunit.Options{})+"\n", "")
	if err := os.WriteFile(f.unit, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := f.publish("1.1.0", fakeAgent("1.1.0"))
	_, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd", messages.AgentUpgrade{Version: "1.1.0", Artifacts: []messages.ArtifactRef{ref}})
	if err == nil || !strings.Contains(err.Error(), "no rollback step") {
		t.Fatalf("old unit: %v", err)
	}
	f.unchanged()
}

// runSwaps makes the fixture's systemd-run run the swap scripts for real
// (as the transient unit would) and record everything else.
func (f *fixture) runSwaps() {
	f.u.o.SystemdRun = func(_ context.Context, args []string) error {
		f.systemd = append(f.systemd, args)
		if strings.HasPrefix(args[0], "--unit="+agentunit.SwapUnit) {
			if out, err := exec.Command("/bin/sh", "-c", args[len(args)-1]).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
		}
		return nil
	}
}

// TestAPackagedAgentStagesInItsStateAndSwapsThroughSystemd: the package's
// /usr/bin is read-only to the agent, so the binary is staged in the
// state directory and a transient unit (outside the sandbox) swaps it,
// keeping .prev for the rollback step.
func TestAPackagedAgentStagesInItsStateAndSwapsThroughSystemd(t *testing.T) {
	f := newFixture(t)
	state := t.TempDir()
	f.u.o.Packaged, f.u.o.StageDir = true, state
	f.runSwaps()
	ref := f.publish("1.1.0", fakeAgent("1.1.0"))
	rep, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd1", messages.AgentUpgrade{Version: "1.1.0", Artifacts: []messages.ArtifactRef{ref}, DeadlineMs: 30_000})
	if err != nil || !rep.Changed {
		t.Fatalf("Upgrade = %+v, %v", rep, err)
	}
	if f.read("foundry-agent") != string(fakeAgent("1.1.0")) || f.read("foundry-agent.prev") != string(fakeAgent("1.0.0")) {
		t.Errorf("binaries: now %q, prev %q", f.read("foundry-agent"), f.read("foundry-agent.prev"))
	}
	if left, _ := os.ReadDir(state); len(left) != 0 || f.read("foundry-agent.new") != "<absent>" {
		t.Errorf("staged binary left behind: %v", left)
	}
	if len(f.systemd) != 3 || !strings.HasPrefix(f.systemd[0][0], "--unit="+agentunit.SwapUnit) ||
		!strings.HasPrefix(f.systemd[1][0], "--unit="+agentunit.GuardUnit) || !strings.HasPrefix(f.systemd[2][0], "--unit="+agentunit.RestartUnit) {
		t.Errorf("systemd-run calls %q", f.systemd)
	}
	if _, err := agentunit.ParseMarker([]byte(f.read("agent-upgrade"))); err != nil {
		t.Errorf("marker: %v", err)
	}
}

func TestAPackagedAgentIsPutBackWhenTheRestartCannotBeScheduled(t *testing.T) {
	f := newFixture(t)
	f.u.o.Packaged, f.u.o.StageDir = true, t.TempDir()
	f.runSwaps()
	inner := f.u.o.SystemdRun
	f.u.o.SystemdRun = func(ctx context.Context, args []string) error {
		if strings.HasPrefix(args[0], "--unit="+agentunit.RestartUnit) {
			return os.ErrPermission
		}
		return inner(ctx, args)
	}
	ref := f.publish("1.1.0", fakeAgent("1.1.0"))
	_, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd", messages.AgentUpgrade{Version: "1.1.0", Artifacts: []messages.ArtifactRef{ref}})
	if err == nil {
		t.Fatal("no error")
	}
	f.systemd = nil
	f.unchanged()
}

func TestNewTakesAnAgentUnderUsrBinForThePackages(t *testing.T) {
	if u := New(Options{Binary: "/usr/bin/foundry-agent"}); !u.o.Packaged || u.o.StageDir != agentunit.StateDir {
		t.Fatalf("%+v", u.o)
	}
	if New(Options{Binary: "/usr/local/bin/foundry-agent"}).o.Packaged {
		t.Fatal("a bare binary taken for the package's")
	}
}

func TestUpgradeUndoesEverythingWhenTheRestartCannotBeScheduled(t *testing.T) {
	f := newFixture(t)
	f.u.o.SystemdRun = func(context.Context, []string) error { return os.ErrPermission }
	ref := f.publish("1.1.0", fakeAgent("1.1.0"))
	if _, err := f.u.Upgrade(context.Background(), "1.0.0", "cmd", messages.AgentUpgrade{Version: "1.1.0", Artifacts: []messages.ArtifactRef{ref}}); err == nil {
		t.Fatal("no error")
	}
	f.unchanged()
}

func TestConfirmClearsOnlyItsOwnVersionsMarker(t *testing.T) {
	f := newFixture(t)
	m := agentunit.Marker{ID: "cmd", From: "1.0.0", To: "1.1.0", Deadline: 5}
	if err := os.WriteFile(f.u.o.Marker, m.Encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := f.u.Confirm("1.0.0"); got != nil || err != nil || f.read("agent-upgrade") == "<absent>" {
		t.Fatalf("the old version confirmed: %+v %v", got, err)
	}
	if got, err := f.u.Confirm("1.1.0"); err != nil || got == nil || *got != m || f.read("agent-upgrade") != "<absent>" {
		t.Fatalf("Confirm = %+v %v", got, err)
	}
	if got, err := f.u.Confirm("1.1.0"); got != nil || err != nil {
		t.Fatalf("second Confirm = %+v %v", got, err)
	}
}

func TestLastFailureReadsTheRollbackRecord(t *testing.T) {
	f := newFixture(t)
	if f.u.LastFailure() != nil {
		t.Fatal("a failure without a record")
	}
	rec := "id=cmd\nfrom=1.0.0\nto=1.2.0\ntime=77\nreason=agent 1.2.0 did not stay up after 3 starts\n"
	if err := os.WriteFile(f.u.o.Record, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	got := f.u.LastFailure()
	want := messages.AgentUpgradeAttempt{ID: "cmd", From: "1.0.0", To: "1.2.0", Reason: "agent 1.2.0 did not stay up after 3 starts", Time: 77}
	if got == nil || *got != want {
		t.Fatalf("LastFailure = %+v", got)
	}
}
