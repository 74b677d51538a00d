package bootstrap

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/installer/ssh"
)

// Files the bootstrap manages, in the order the probe reports them: the
// package's binary and unit, the files host add writes, and the old
// layout's binary and unit, which host add removes.
var managedFiles = []string{
	agentunit.DefaultBinary,
	agentunit.DefaultConfig,
	agentunit.CAPath,
	agentunit.UnitPath,
	agentunit.SeedPath,
	agentunit.LegacyBinary,
	agentunit.LegacyUnitPath,
}

// probeScript reports, in one round trip and without sudo, what of the
// agent is already on the host: a sha256 per managed file ("-" when
// absent, "?" when present but readable only by root, like the seed),
// the unit's enabled and active states, and whether the host has dpkg,
// its architecture and the agent package's status and version.
func probeScript() string {
	var b strings.Builder
	b.WriteString("for f in")
	for _, f := range managedFiles {
		b.WriteString(" " + ssh.Quote(f))
	}
	b.WriteString("; do if [ ! -e \"$f\" ]; then echo \"- $f\"; elif [ -r \"$f\" ]; then sha256sum \"$f\"; else echo \"? $f\"; fi; done\n")
	b.WriteString("echo \"enabled $(systemctl is-enabled " + agentunit.UnitName + " 2>/dev/null || true)\"\n")
	b.WriteString("echo \"active $(systemctl is-active " + agentunit.UnitName + " 2>/dev/null || true)\"\n")
	b.WriteString("if command -v dpkg >/dev/null 2>&1; then echo \"arch $(dpkg --print-architecture)\"; " +
		"echo \"package $(dpkg-query -W -f='${Status}|${Version}' " + agentunit.PackageName + " 2>/dev/null | tr ' ' _ || true)\"; else echo nodpkg; fi\n")
	return b.String()
}

// hostState is what the probe found.
type hostState struct {
	sums    map[string]string // path -> sha256 hex, absent when missing
	enabled bool
	active  bool
	dpkg    bool   // the host has dpkg (Debian, Ubuntu)
	arch    string // dpkg --print-architecture
	// pkgStatus and pkgVersion are dpkg's for foundry-agent; pkgStatus is
	// "install ok installed" when it is installed.
	pkgStatus, pkgVersion string
}

const pkgInstalled = "install ok installed"

// installed reports whether any part of the agent is on the host.
func (s hostState) installed() bool { return len(s.sums) > 0 || s.pkgStatus == pkgInstalled }

// enrolled reports whether the host has an identity or a configuration.
func (s hostState) enrolled() bool {
	return s.sums[agentunit.SeedPath] != "" || s.sums[agentunit.DefaultConfig] != ""
}

// legacy reports whether the layout from before the package is there.
func (s hostState) legacy() bool {
	return s.sums[agentunit.LegacyBinary] != "" || s.sums[agentunit.LegacyUnitPath] != ""
}

// parseProbe reads probeScript's output.
func parseProbe(out string) (hostState, error) {
	st := hostState{sums: map[string]string{}}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "enabled":
			st.enabled = len(f) > 1 && f[1] == "enabled"
		case f[0] == "active":
			st.active = len(f) > 1 && f[1] == "active"
		case f[0] == "nodpkg":
		case f[0] == "arch":
			st.dpkg = true
			if len(f) > 1 {
				st.arch = f[1]
			}
		case f[0] == "package":
			if len(f) > 1 {
				status, version, _ := strings.Cut(f[1], "|")
				st.pkgStatus, st.pkgVersion = strings.ReplaceAll(status, "_", " "), version
			}
		case len(f) == 2 && f[0] == "-":
			seen++
		case len(f) == 2 && f[0] == "?":
			st.sums[f[1]] = "?"
			seen++
		case len(f) == 2 && len(f[0]) == 64:
			st.sums[f[1]] = f[0]
			seen++
		default:
			return st, fmt.Errorf("unexpected probe output line %q", line)
		}
	}
	if seen != len(managedFiles) {
		return st, fmt.Errorf("probe reported %d of %d files", seen, len(managedFiles))
	}
	return st, nil
}

// authorizeKeyScript adds the public key line read from stdin to the
// login user's authorized_keys, once.
func authorizeKeyScript() string {
	return `set -eu
umask 077
line=$(cat)
mkdir -p "$HOME/.ssh"
touch "$HOME/.ssh/authorized_keys"
grep -qxF "$line" "$HOME/.ssh/authorized_keys" || printf '%s\n' "$line" >> "$HOME/.ssh/authorized_keys"
`
}

// UnauthorizeKeyScript removes the key line read from stdin from the
// login user's authorized_keys again (a failed add's roll back, and host
// remove over SSH).
func UnauthorizeKeyScript() string {
	return `set -eu
line=$(cat)
f="$HOME/.ssh/authorized_keys"
[ -f "$f" ] || exit 0
grep -vxF "$line" "$f" > "$f.foundry-tmp" || true
cat "$f.foundry-tmp" > "$f"
rm -f "$f.foundry-tmp"
`
}

// backupScript keeps a copy of each existing file so a failed repair can
// be undone; restoreScript puts them back; dropBackupsScript forgets them
// after success.
func backupScript(files []string) string {
	var b strings.Builder
	for _, f := range files {
		q := ssh.Quote(f)
		fmt.Fprintf(&b, "[ -f %s ] && cp -p %s %s.foundry-prev || true\n", q, q, q)
	}
	return b.String()
}

func restoreScript(files []string) string {
	var b strings.Builder
	for _, f := range files {
		q := ssh.Quote(f)
		fmt.Fprintf(&b, "if [ -f %s.foundry-prev ]; then mv -f %s.foundry-prev %s; fi\n", q, q, q)
	}
	return b.String()
}

func dropBackupsScript(files []string) string {
	var b strings.Builder
	b.WriteString("rm -f")
	for _, f := range files {
		b.WriteString(" " + ssh.Quote(f+".foundry-prev"))
	}
	b.WriteString("\n")
	return b.String()
}

// journalTail is run when the agent does not register, to show why.
func journalTail() string {
	return "journalctl -u " + agentunit.UnitName + " -n 15 --no-pager -o cat 2>&1 || true"
}

// scriptHeader starts every multi-step root script: stop at the first
// error and say on stderr which step failed, since the command line alone
// does not tell.
func scriptHeader() string {
	return "set -eu\nstep=start\ntrap 'rc=$?; [ \"$rc\" = 0 ] || echo \"foundry: failed at step: $step (exit $rc)\" >&2' EXIT\n" +
		"step='check root'\n[ \"$(id -u)\" = 0 ] || { echo \"sudo did not give root\" >&2; exit 1; }\n"
}

// installBinaryScript reads exactly size bytes of agent binary from stdin
// into a temp file beside the destination, checks them against the
// expected sha256, then renames, so a broken transfer never replaces a
// working agent. The binary goes uncompressed: on the LAN links a fleet is
// bootstrapped over, decompressing costs the host more CPU than the bytes
// cost the wire. head -c leaves the rest of stdin (the second half) unread.
func installBinaryScript(wantSHA string, size int) string {
	dst := ssh.Quote(agentunit.DefaultBinary)
	return `step='install agent binary'
tmp=$(mktemp ` + ssh.Quote(agentunit.DefaultBinary+".foundry-new.XXXXXX") + `)
if ! { head -c ` + strconv.Itoa(size) + ` > "$tmp" && echo "` + wantSHA + `  $tmp" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
  rm -f "$tmp"; echo "agent binary corrupted in transfer (sha256 mismatch)" >&2; exit 1
fi
chown root:root "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" ` + dst + `
`
}

// secondHalfScript runs what the installer sends on stdin after the public
// key was printed: the files and systemd steps, or nothing. Both halves
// run in one sudo call.
func secondHalfScript() string {
	return "step='read second half'\nrest=$(cat)\neval \"$rest\"\n"
}

// keygenScript creates the agent's NATS seed on the host (once) and prints
// its public key; the seed never leaves the host.
func keygenScript() string {
	return "step='create NATS identity'\ninstall -d -m 0755 " + ssh.Quote(agentunit.ConfigDir) + "\n" +
		ssh.QuoteArgs(agentunit.DefaultBinary, "keygen", "--out", agentunit.SeedPath) + "\n"
}

// writeFilesScript writes each file atomically with its mode, owned by
// root. Contents travel inside the script: none of these files is secret
// (the seed is created on the host and never written by us).
func writeFilesScript(files []managedFile) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "step=%s\n", ssh.Quote("write "+f.path))
		q := ssh.Quote(f.path)
		fmt.Fprintf(&b, "printf '%%s' %s > %s.foundry-new && chmod %04o %s.foundry-new && chown root:root %s.foundry-new && mv -f %s.foundry-new %s\n",
			ssh.Quote(string(f.data)), q, f.mode.Perm(), q, q, q, q)
	}
	return b.String()
}
