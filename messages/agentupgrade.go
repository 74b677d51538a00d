package messages

import (
	"fmt"
	"strings"
)

// VerbAgentUpgrade asks an agent to replace its own binary with a signed
// foundry-agent artifact and restart on it. It is a write (admin only):
// it is not in ReadOnlyVerbs.
const VerbAgentUpgrade = "agent_upgrade"

// AgentComponent is the artifact component of the agent's own builds
// (`foundry artifact import foundry-agent V FILE`).
const AgentComponent = "foundry-agent"

// HostRolledBack is a job host whose new agent did not come up and
// which went back to its previous agent by itself; it counts as failed.
const HostRolledBack = "rolled_back"

// Agent upgrade deadlines: how long a new agent has to connect and
// heartbeat its version before its host goes back to the previous one.
const (
	DefaultAgentUpgradeDeadlineMs = 60_000
	MinAgentUpgradeDeadlineMs     = 5_000
	MaxAgentUpgradeDeadlineMs     = 15 * 60_000
)

// AgentUpgrade is the payload of agent_upgrade: the version to run, its
// builds (one per architecture; each agent takes its own, see
// AgentArtifactFor), whether going to an older version is wanted, and
// the deadline for the new agent to report.
type AgentUpgrade struct {
	Version        string        `json:"version"`
	Artifacts      []ArtifactRef `json:"artifacts"`
	AllowDowngrade bool          `json:"allow_downgrade,omitempty"`
	DeadlineMs     int64         `json:"deadline_ms,omitempty"`
}

// Deadline is DeadlineMs with its default.
func (u AgentUpgrade) Deadline() int64 {
	if u.DeadlineMs == 0 {
		return DefaultAgentUpgradeDeadlineMs
	}
	return u.DeadlineMs
}

// Validate bounds the payload the way ServiceSpec.Validate does.
func (u AgentUpgrade) Validate() error {
	if err := ValidVersion(u.Version); err != nil {
		return err
	}
	if len(u.Artifacts) == 0 || len(u.Artifacts) > 8 {
		return &Error{Code: CodeBadRequest, Message: "an agent upgrade names 1 to 8 builds of foundry-agent"}
	}
	for _, a := range u.Artifacts {
		if a.Component != AgentComponent || a.Version != u.Version {
			return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("artifact %s is not %s %s", a.ObjectName(), AgentComponent, u.Version)}
		}
		if err := ValidFileName(a.File); err != nil {
			return err
		}
		if len(a.SHA256) != 64 || strings.Trim(strings.ToLower(a.SHA256), "0123456789abcdef") != "" {
			return &Error{Code: CodeBadRequest, Message: "artifact sha256 must be 64 hex digits"}
		}
		if a.Size <= 0 || a.Size > MaxArtifactBytes || len(a.Sig) == 0 || a.KeyID == "" {
			return &Error{Code: CodeBadRequest, Message: "artifact must have a size, a key id and a signature; re-import it"}
		}
	}
	if d := u.Deadline(); d < MinAgentUpgradeDeadlineMs || d > MaxAgentUpgradeDeadlineMs {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("agent upgrade deadline must be between %ds and %dm",
			MinAgentUpgradeDeadlineMs/1000, MaxAgentUpgradeDeadlineMs/60_000)}
	}
	return nil
}

// DecodeAgentUpgrade parses and validates an agent_upgrade payload.
func DecodeAgentUpgrade(b []byte) (AgentUpgrade, error) {
	u, err := decode[AgentUpgrade](b, MaxCommandBytes, "agent upgrade")
	if err != nil {
		return u, err
	}
	return u, u.Validate()
}

// AgentArtifactFor picks the build for a linux/arch host: a file named
// "..._linux_<arch>" (the release's name), else the only file there is.
func AgentArtifactFor(refs []ArtifactRef, arch string) (ArtifactRef, bool) {
	for _, r := range refs {
		if strings.HasSuffix(r.File, "_linux_"+arch) {
			return r, true
		}
	}
	if len(refs) == 1 && !strings.Contains(refs[0].File, "_linux_") {
		return refs[0], true
	}
	return ArtifactRef{}, false
}

// AgentUpgradeReply answers agent_upgrade. Changed is false when the
// agent already runs Version; otherwise the agent has switched binaries
// and restarts, and the new one must heartbeat Version by Deadline.
type AgentUpgradeReply struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Changed  bool   `json:"changed"`
	Detail   string `json:"detail,omitempty"`
	Deadline int64  `json:"deadline,omitempty"` // unix ms, agent clock
}

// AgentUpgradeAttempt is an upgrade that did not take: the host went back
// to From by itself. The agent reports its last one in its facts until
// a later upgrade succeeds, so a job (and an operator) learns of it from
// the heartbeat, without asking.
type AgentUpgradeAttempt struct {
	ID     string `json:"id"` // the agent_upgrade command's id
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
	Time   int64  `json:"time"` // unix s, agent clock
}

// AgentVersionChange says what moving an agent from one version to
// another is, and refuses a downgrade that was not asked for.
func AgentVersionChange(from, to string, allowDowngrade bool) (string, error) {
	switch c := CompareVersions(to, from); {
	case from == to:
		return "already at " + to, nil
	case c > 0:
		return "upgrade " + from + " → " + to, nil
	case allowDowngrade:
		return "downgrade " + from + " → " + to, nil
	default:
		return "", &Error{Code: CodeConflict, Message: fmt.Sprintf(
			"agent %s is newer than %s; pass --allow-downgrade to go back to %s", from, to, to)}
	}
}
