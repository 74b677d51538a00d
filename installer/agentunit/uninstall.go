package agentunit

import "strings"

// Files the bootstrap installs besides the unit and the binary.
const (
	ConfigDir = "/etc/foundry"
	SeedPath  = ConfigDir + "/agent.nk"
	CAPath    = ConfigDir + "/ca.pem"
	StateDir  = "/var/lib/foundry"
)

// UninstallScript removes everything the bootstrap put on a host. The same
// script runs over SSH (host remove when the agent is unreachable) and as a
// transient unit started by the agent itself (host remove over NATS); it is
// idempotent, so running it twice or on a half-installed host is safe.
// Host services the agent installed (under ConfigDir/components) keep
// running without it, so their configuration stays; ConfigDir goes only
// when nothing else is left in it.
func UninstallScript() string {
	return strings.Join([]string{
		"set -u",
		"systemctl disable --now " + UnitName + " >/dev/null 2>&1 || true",
		"rm -f " + UnitPath + " " + DefaultBinary,
		"find " + ConfigDir + " -maxdepth 1 ! -type d -delete 2>/dev/null || true",
		"rmdir " + ConfigDir + " 2>/dev/null || true",
		"rm -rf " + StateDir,
		"systemctl daemon-reload",
		"systemctl reset-failed " + UnitName + " >/dev/null 2>&1 || true",
	}, "\n") + "\n"
}
