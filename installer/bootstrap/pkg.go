package bootstrap

import (
	"bytes"
	"debug/elf"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/packaging/deb"
)

// host add installs the agent as the foundry-agent package, built here
// from the agent binary with packaging/deb, so an agent reaches a host in
// one way whether an operator runs dpkg -i or host add, and one layout
// (/usr/bin, /lib/systemd/system) is all the agent, its self-update and
// host remove need to know.

// packageTime is every timestamp in the package host add builds: fixed,
// so the same binary and version always give the same bytes.
var packageTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// agentPackage is the .deb one host add run installs.
type agentPackage struct {
	data    []byte
	sha256  string
	version string // Debian version, as dpkg-query reports it
	arch    string // Debian architecture
	unitSHA string // sha256 of the unit the package ships
}

// DebVersion is the package version for a controller version: Debian
// versions start with a digit, so a development build ("dev", "e2e", a
// git describe without tag) becomes 0~<version>, which sorts before any
// release.
func DebVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '+', r == '~':
			return r
		}
		return '.'
	}, v)
	if clean == "" {
		return "0~dev"
	}
	if clean[0] < '0' || clean[0] > '9' {
		return "0~" + clean
	}
	return clean
}

// binaryArch is the Debian architecture of a Linux executable, or "" for
// a file that is no ELF executable at all (a script, which runs
// anywhere: the tests' stand-in agents).
func binaryArch(b []byte) (string, error) {
	if !bytes.HasPrefix(b, []byte(elf.ELFMAG)) {
		return "", nil
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("the agent binary is a damaged executable (%v); pass a foundry-agent built for linux with --agent-binary", err)
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	}
	return "", fmt.Errorf("the agent binary is built for %s; Foundry packages amd64 and arm64", f.Machine)
}

// packages builds the agent's package once per architecture and shares
// it between the hosts of one AddMany.
type packages struct {
	mu      sync.Mutex
	binary  []byte
	version string
	built   map[string]*agentPackage
}

func newPackages(binary []byte, version string) *packages {
	return &packages{binary: binary, version: version, built: map[string]*agentPackage{}}
}

func (p *packages) get(arch string) (*agentPackage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ap := p.built[arch]; ap != nil {
		return ap, nil
	}
	ap, err := buildPackage(p.binary, p.version, arch)
	if err != nil {
		return nil, err
	}
	p.built[arch] = ap
	return ap, nil
}

// buildPackage makes the agent's .deb for arch from its binary.
func buildPackage(binary []byte, version, arch string) (*agentPackage, error) {
	p, err := deb.Agent(deb.Options{Version: DebVersion(version), Arch: arch, BinaryData: binary, MTime: packageTime})
	if err != nil {
		return nil, fmt.Errorf("build the agent package: %w", err)
	}
	// Sent once over the LAN and unpacked at once: compressing would cost
	// both ends more than the bytes cost the wire (as for the bare binary
	// host add sent before).
	p.Uncompressed = true
	var b bytes.Buffer
	if err := deb.Write(p, &b); err != nil {
		return nil, fmt.Errorf("build the agent package: %w", err)
	}
	ap := &agentPackage{data: b.Bytes(), sha256: sha(b.Bytes()), version: p.Version, arch: arch}
	for _, f := range p.Files {
		if f.Path == agentunit.UnitPath {
			ap.unitSHA = sha(f.Data)
		}
	}
	return ap, nil
}

// installPackageScript reads exactly size bytes of package from stdin into
// a temp file, checks them against the expected sha256 and installs them
// with dpkg -i (the package's postinst enables and restarts an enrolled
// agent; dpkg's chatter goes nowhere, its errors to stderr). head -c
// leaves the rest of stdin (the second half) unread.
func installPackageScript(wantSHA string, size int) string {
	return `step='install agent package'
tmp=$(mktemp /var/tmp/foundry-agent.deb.XXXXXX)
if ! { head -c ` + strconv.Itoa(size) + ` > "$tmp" && echo "` + wantSHA + `  $tmp" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
  rm -f "$tmp"; echo "agent package corrupted in transfer (sha256 mismatch)" >&2; exit 1
fi
if ! dpkg -i "$tmp" >/dev/null; then rm -f "$tmp"; echo "dpkg -i of the agent package failed" >&2; exit 1; fi
rm -f "$tmp"
`
}

// removeLegacyScript takes away the layout host add used before the
// package (a bare binary in /usr/local/bin and a unit in
// /etc/systemd/system that would override the package's). The unit is
// disabled first, so no symlink is left pointing at the removed file;
// the caller enables the package's unit again.
func removeLegacyScript() string {
	return "step='remove the old agent layout'\nsystemctl disable " + agentunit.UnitName + " >/dev/null 2>&1 || true\nrm -f " +
		ssh.QuoteArgs(agentunit.LegacyUnitPath, agentunit.LegacyBinary, agentunit.LegacyBinary+agentunit.PrevSuffix, agentunit.LegacyBinary+agentunit.NewSuffix) + "\n"
}

// purgeScript removes the package this run installed on a host that had
// none (a failed fresh install), or, with keepConfig, only its files (a
// failed migration from the old layout, whose identity and config stay).
func purgeScript(keepConfig bool) string {
	action := "--purge"
	if keepConfig {
		action = "-r"
	}
	return "if dpkg-query -W " + agentunit.PackageName + " >/dev/null 2>&1; then " + agentunit.KeepRunningEnv + "=1 dpkg " + action + " " +
		agentunit.PackageName + " >/dev/null || true; fi\n"
}
