package deb_test

import (
	"bytes"
	"github.com/foundry-fleet/foundry/packaging/deb"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/packaging/clidocs"
)

var when = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func opts(t *testing.T) deb.Options {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.WriteFile(bin, []byte("#!/bin/sh\necho agent\n"), 0o755)
	return deb.Options{Version: "v1.2.3", Arch: "amd64", Binary: bin, MTime: when}
}

func build(t *testing.T, o deb.Options, cli bool) []byte {
	t.Helper()
	info, err := deb.Agent(o)
	if cli {
		for _, k := range clidocs.EnvDefaults {
			t.Setenv(k, "")
		}
		man, comp := t.TempDir(), t.TempDir()
		cmd := clidocs.Tree()
		if err := clidocs.Man(cmd, man, when); err != nil {
			t.Fatal(err)
		}
		if err := clidocs.Completions(cmd, comp); err != nil {
			t.Fatal(err)
		}
		info, err = deb.CLI(o, man, comp)
	}
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := deb.Write(info, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// dpkgDeb runs dpkg-deb with the package written to a file; "{}" in args
// stands for that file.
func dpkgDeb(t *testing.T, pkg []byte, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed (a Debian tool); the package contents are not inspected")
	}
	p := filepath.Join(t.TempDir(), "p.deb")
	os.WriteFile(p, pkg, 0o644)
	for i, a := range args {
		if a == "{}" {
			args[i] = p
		}
	}
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestAgentPackageShipsTheHardenedUnitAndScripts(t *testing.T) {
	pkg := build(t, opts(t), false)
	info := dpkgDeb(t, pkg, "--info", "{}")
	for _, want := range []string{"Package: foundry-agent", "Version: 1.2.3", "Architecture: amd64", "Depends: systemd", "postinst", "prerm", "postrm", "purging deletes them"} {
		if !strings.Contains(info, want) {
			t.Errorf("control lacks %q:\n%s", want, info)
		}
	}
	list := dpkgDeb(t, pkg, "--contents", "{}")
	for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/foundry-agent", "./lib/systemd/system/foundry-agent.service", "2026-12-01 10:00"} {
		if !strings.Contains(list, want) {
			t.Errorf("contents lack %q:\n%s", want, list)
		}
	}
	dir := filepath.Join(t.TempDir(), "x")
	dpkgDeb(t, pkg, "-R", "{}", dir)
	unit, _ := os.ReadFile(filepath.Join(dir, "lib/systemd/system/foundry-agent.service"))
	for _, want := range []string{"ConditionPathExists=/etc/foundry/agent.yaml", "ExecStart=/usr/bin/foundry-agent run", "ProtectSystem=strict", "NoNewPrivileges=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		b, err := os.ReadFile(filepath.Join(dir, "DEBIAN", s))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(dir, "DEBIAN", s)).CombinedOutput(); err != nil || !bytes.HasPrefix(b, []byte("#!/bin/sh\n")) {
			t.Errorf("%s: %v %s", s, err, out)
		}
	}
}

func TestCLIPackageShipsManPagesAndCompletions(t *testing.T) {
	pkg := build(t, opts(t), true)
	list := dpkgDeb(t, pkg, "--contents", "{}")
	for _, want := range []string{"./usr/bin/foundry", "./usr/share/man/man1/foundry.1.gz", "./usr/share/man/man1/foundry-host-add.1.gz",
		"./usr/share/bash-completion/completions/foundry", "./usr/share/zsh/vendor-completions/_foundry", "./usr/share/fish/vendor_completions.d/foundry.fish"} {
		if !strings.Contains(list, want) {
			t.Errorf("contents lack %q", want)
		}
	}
}

// TestPackagesAreReproducible: the same inputs give the same bytes, so a
// release rebuilt from its commit can be checked against SHA256SUMS.
func TestPackagesAreReproducible(t *testing.T) {
	o := opts(t)
	a := build(t, o, false)
	time.Sleep(1100 * time.Millisecond) // a second later: no timestamp may leak in
	b := build(t, o, false)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the agent package differ")
	}
}

func TestOptionsAreChecked(t *testing.T) {
	o := opts(t)
	o.Version = "dev"
	if _, err := deb.Agent(o); err == nil || !strings.Contains(err.Error(), "must start with a digit") {
		t.Fatal(err)
	}
	o = opts(t)
	o.Arch = "386"
	if _, err := deb.Agent(o); err == nil {
		t.Fatal("386 accepted")
	}
}

func TestScriptsKeepIdentityOnRemoveAndDropItOnPurge(t *testing.T) {
	post := deb.PostRm()
	purge := post[strings.Index(post, `if [ "$1" = purge ]`):]
	if !strings.Contains(purge, "rm -rf /var/lib/foundry") || strings.Count(post, "/var/lib/foundry") != 1 {
		t.Fatalf("state is removed outside purge:\n%s", post)
	}
	if !strings.Contains(deb.PostInst(), "--no-block restart") || !strings.Contains(deb.PostInst(), "if [ -f /etc/foundry/agent.yaml ]") {
		t.Fatalf("postinst:\n%s", deb.PostInst())
	}
}
