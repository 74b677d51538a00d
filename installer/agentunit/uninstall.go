package agentunit

import "strings"

// Files the bootstrap installs besides the unit and the binary.
const (
	ConfigDir = "/etc/foundry"
	SeedPath  = ConfigDir + "/agent.nk"
	CAPath    = ConfigDir + "/ca.pem"
	StateDir  = "/var/lib/foundry"
)

// Names of the transient units `host remove` runs on the host.
const (
	RemovalUnit = "foundry-agent-uninstall"
	StopUnit    = "foundry-agent-stop"
	// StopDelay gives the agent time to send its reply before systemd
	// stops it.
	StopDelay = "1s"
)

// KeepRunningEnv, set to 1 in dpkg's environment, tells the package's
// prerm not to stop the agent: host remove runs dpkg --purge from inside
// a request the agent still has to answer.
const KeepRunningEnv = "FOUNDRY_AGENT_KEEP_RUNNING"

// Removed is how RemovalScript reports each thing it took away, one line
// per item on stdout, so the agent can say exactly what went.
const Removed = "removed "

// KeyRemoved is RemovalScript's line for Foundry's SSH key.
const KeyRemoved = Removed + "ssh key from authorized_keys of "

// UninstallScript removes everything the bootstrap put on a host, the
// agent's unit stopped first. It runs over SSH (host remove when the
// agent is unreachable, and a failed add's roll back); it is idempotent,
// so running it twice or on a half-installed host is safe. Host services
// the agent installed (under ConfigDir/components) keep running without
// it, so their configuration stays; ConfigDir goes only when nothing else
// is left in it.
func UninstallScript() string {
	return "set -u\n" +
		"systemctl stop " + UnitName + " >/dev/null 2>&1 || true\n" +
		RemovalScript("", "") +
		"systemctl reset-failed " + UnitName + " >/dev/null 2>&1 || true\n"
}

// RemovalScript removes the agent's unit file, binary, config, identity
// and state while the agent still runs, and, when user and keyLine are
// given, Foundry's key line from that user's authorized_keys. It prints
// one Removed line per item and exits non-zero when something could not
// be removed. The agent runs it through systemd (RemovalRunArgs), since
// its own sandbox may not write /etc/systemd or home directories, and
// stops only afterwards (StopRunArgs), so that it can report the outcome.
func RemovalScript(user, keyLine string) string {
	var b strings.Builder
	b.WriteString("rc=0\n")
	b.WriteString("gone() { echo " + quote(Removed) + "\"$1\"; }\n")
	b.WriteString("fail() { echo \"could not remove $1\" >&2; rc=1; }\n")
	b.WriteString("if systemctl is-enabled --quiet " + UnitName + " 2>/dev/null; then systemctl disable " + UnitName + " >/dev/null 2>&1 || fail 'the unit from boot'; fi\n")
	for _, f := range []string{UnitPath, DefaultBinary, DefaultBinary + PrevSuffix, DefaultBinary + NewSuffix,
		LegacyUnitPath, LegacyBinary, LegacyBinary + PrevSuffix, LegacyBinary + NewSuffix} {
		q := quote(f)
		b.WriteString("if [ -e " + q + " ]; then rm -f " + q + " && gone " + q + " || fail " + q + "; fi\n")
	}
	q := quote(ConfigDir)
	b.WriteString("for f in " + q + "/* " + q + "/.[!.]*; do if [ -f \"$f\" ] || [ -L \"$f\" ]; then rm -f \"$f\" && gone \"$f\" || fail \"$f\"; fi; done\n")
	b.WriteString("if [ -d " + q + " ] && rmdir " + q + " 2>/dev/null; then gone " + q + "; fi\n")
	s := quote(StateDir)
	b.WriteString("if [ -e " + s + " ]; then rm -rf " + s + " && gone " + s + " || fail " + s + "; fi\n")
	if user != "" && keyLine != "" {
		u, k := quote(user), quote(keyLine)
		b.WriteString("home=$(getent passwd " + u + " | cut -d: -f6)\n")
		b.WriteString("f=\"$home/.ssh/authorized_keys\"\n")
		b.WriteString("if [ -n \"$home\" ] && [ -f \"$f\" ] && grep -qxF " + k + " \"$f\"; then\n")
		b.WriteString("  { grep -vxF " + k + " \"$f\" > \"$f.foundry-tmp\" || true; } && cat \"$f.foundry-tmp\" > \"$f\" && rm -f \"$f.foundry-tmp\" && echo " + quote(KeyRemoved+user) + " || fail 'the ssh key'\n")
		b.WriteString("fi\n")
	}
	// The package's files are gone already; this drops dpkg's record of
	// it. The agent is stopped afterwards, by whoever runs this script,
	// so the package's prerm must not stop it now (KeepRunningEnv).
	b.WriteString("if dpkg-query -W " + PackageName + " >/dev/null 2>&1; then " + KeepRunningEnv + "=1 dpkg --purge " + PackageName +
		" >/dev/null 2>&1 && gone 'package " + PackageName + "' || fail 'package " + PackageName + "'; fi\n")
	b.WriteString("systemctl daemon-reload || rc=1\n")
	b.WriteString("exit $rc\n")
	return b.String()
}

// RemovalRunArgs are the systemd-run arguments that run RemovalScript,
// fed on stdin, as a transient unit and wait for it, its output piped
// back. The script never goes into the unit itself: a multi-line
// ExecStart was what systemd reported as a dozen malformed lines when the
// script's own daemon-reload re-read the transient unit file.
func RemovalRunArgs() []string {
	return []string{"--unit=" + RemovalUnit, "--collect", "--quiet", "--wait", "--pipe", "/bin/sh", "-s"}
}

// StopRunArgs are the systemd-run arguments that stop the agent shortly
// after it replied (a timer and a service, both transient). The timer's
// accuracy is set because systemd's default (a minute, to coalesce
// wake-ups) let a 2s timer fire 10s late on a test host, the agent
// running on for that long.
func StopRunArgs() []string {
	return []string{"--unit=" + StopUnit, "--collect", "--quiet", "--on-active=" + StopDelay,
		"--timer-property=AccuracySec=100ms", "/bin/systemctl", "stop", UnitName}
}

// quote makes s one single-quoted shell word.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
