package bootstrap

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDebVersionStartsWithADigit(t *testing.T) {
	for in, want := range map[string]string{"1.2.3": "1.2.3", "v1.2.3": "1.2.3", "dev": "0~dev", "e2e": "0~e2e", "": "0~dev",
		"v1.2.3-4-gabc": "1.2.3.4.gabc", "abc123-dirty": "0~abc123.dirty"} {
		if got := DebVersion(in); got != want {
			t.Errorf("DebVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func testBinary(t *testing.T) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestThePackageIsBuiltForTheBinarysArchitecture(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("needs a linux/amd64 or linux/arm64 test binary")
	}
	bin := testBinary(t)
	arch, err := binaryArch(bin)
	if err != nil || arch != runtime.GOARCH {
		t.Fatalf("binaryArch = %q, %v", arch, err)
	}
	pkgs := newPackages(bin, "v1.4.0")
	a, err := pkgs.get(arch)
	if err != nil {
		t.Fatal(err)
	}
	if a.arch != runtime.GOARCH || a.version != "1.4.0" || a.unitSHA == "" || a.sha256 != sha(a.data) {
		t.Fatalf("package %s %s unit %q", a.arch, a.version, a.unitSHA)
	}
	if b, _ := pkgs.get(arch); b != a {
		t.Fatal("the package was built twice")
	}
	b, err := buildPackage(bin, "v1.4.0", arch)
	if err != nil || !bytes.Equal(a.data, b.data) {
		t.Fatal("the same binary and version gave another package")
	}
	if arch, err := binaryArch([]byte("#!/bin/sh\n")); arch != "" || err != nil {
		t.Fatalf("a script: %q %v", arch, err)
	}
	if _, err := binaryArch(append([]byte(elf.ELFMAG), 0, 0)); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a damaged ELF file: %v", err)
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	p := filepath.Join(t.TempDir(), "a.deb")
	os.WriteFile(p, a.data, 0o644)
	out, err := exec.Command("dpkg-deb", "-f", p, "Package", "Version", "Architecture").CombinedOutput()
	if want := "Package: foundry-agent\nVersion: 1.4.0\nArchitecture: " + runtime.GOARCH + "\n"; err != nil || string(out) != want {
		t.Fatalf("dpkg-deb -f: %v %q", err, out)
	}
}

// TestInstallPackageScriptRunsLocally runs the script with a dpkg that
// records its argument: the package arrives intact, the second half still
// runs, and a damaged transfer never reaches dpkg.
func TestInstallPackageScriptRunsLocally(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "dpkg.log")
	os.WriteFile(filepath.Join(dir, "dpkg"), []byte("#!/bin/sh\necho \"$1\" >> "+log+"\ncp \"$2\" "+dir+"/installed.deb\necho 'Selecting previously unselected package'\n"), 0o755)
	pkg := []byte("!<arch>\nnot really a package\n")
	script := scriptHeader() + installPackageScript(sha(pkg), len(pkg)) + secondHalfScript()
	script = strings.ReplaceAll(script, `[ "$(id -u)" = 0 ]`, "true")
	script = strings.ReplaceAll(script, "/var/tmp/", dir+"/")
	run := func(payload []byte) (string, error) {
		cmd := exec.Command("/bin/sh", "-ec", script)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		cmd.Stdin = io.MultiReader(bytes.NewReader(payload), strings.NewReader("echo second half ran\n"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("%v: %s", err, out)
		}
		return string(out), nil
	}
	out, err := run(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if out != "second half ran\n" {
		t.Errorf("output %q: dpkg's chatter must not reach stdout (the public key line is read from it)", out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "installed.deb")); !bytes.Equal(got, pkg) {
		t.Fatalf("dpkg got %q", got)
	}
	os.Remove(log)
	tampered := bytes.Clone(pkg)
	tampered[10] = '!'
	if _, err := run(tampered); err == nil || !strings.Contains(err.Error(), "sha256 mismatch") || !strings.Contains(err.Error(), "failed at step: install agent package") {
		t.Fatalf("tampered package: %v", err)
	}
	if _, err := os.Stat(log); err == nil {
		t.Fatal("a damaged package reached dpkg")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "foundry-agent.deb.*")); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// TestProbeRunsOnThisMachine: the probe is plain sh and its output parses
// here too (dpkg or not).
func TestProbeRunsOnThisMachine(t *testing.T) {
	out, err := exec.Command("/bin/sh", "-c", probeScript()).Output()
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseProbe(string(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := exec.LookPath("dpkg"); (err == nil) != st.dpkg || (st.dpkg && st.arch == "") {
		t.Fatalf("dpkg %v arch %q\n%s", st.dpkg, st.arch, out)
	}
}
