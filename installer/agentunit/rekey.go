package agentunit

import (
	"fmt"
	"regexp"
)

// StagedSeedPath is where a rekey keeps the host's new seed until the
// controller has enrolled its public key (the agent's rekey prepare uses
// the same name: nkey_file + ".next").
const StagedSeedPath = SeedPath + ".next"

// RekeyStageScript creates a new NATS seed on the host, beside the one in
// use, and prints its public key: the first half of `host rekey --ssh`.
// The seed is made on the host by the agent binary and never leaves it.
// The agent keeps running on its current key.
func RekeyStageScript() string {
	q := quote(StagedSeedPath)
	return "set -eu\n" +
		"rm -f " + q + "\n" +
		agentBinaryLine() +
		"\"$agent\" keygen --out " + q + "\n" +
		"sync " + q + " " + quote(ConfigDir) + "\n"
}

// agentBinaryLine sets $agent to the host's agent: the package's, or the
// bare binary of a host added before host add installed the package.
func agentBinaryLine() string {
	return "agent=" + quote(DefaultBinary) + "; [ -x \"$agent\" ] || agent=" + quote(LegacyBinary) + "\n"
}

// userKeyRe is the shape of an NKey user public key; the script only
// compares it, but nothing unchecked goes into a shell line.
var userKeyRe = regexp.MustCompile(`^U[A-Z2-7]{55}$`)

// RekeySwitchScript installs the staged seed once the controller has
// enrolled pub (the second half of `host rekey --ssh`): it checks that the
// staged seed is pub's, renames it over the seed in use (atomic; the
// directory is synced) and restarts the agent, which comes back with the
// new key. It refuses a staged seed that is not pub's and leaves the one
// in use alone then.
func RekeySwitchScript(pub string) (string, error) {
	if !userKeyRe.MatchString(pub) {
		return "", fmt.Errorf("%q is not an NKey user public key", pub)
	}
	staged, seed := quote(StagedSeedPath), quote(SeedPath)
	return "set -eu\n" +
		"[ -f " + staged + " ] || { echo 'no staged key on the host; run foundry host rekey --ssh again' >&2; exit 3; }\n" +
		agentBinaryLine() +
		"got=$(\"$agent\" keygen --out " + staged + ")\n" +
		"[ \"$got\" = " + quote(pub) + " ] || { echo 'the staged key is not the one enrolled; run foundry host rekey --ssh again' >&2; exit 3; }\n" +
		"chmod 0600 " + staged + "\n" +
		"mv -f " + staged + " " + seed + "\n" +
		"sync " + quote(ConfigDir) + "\n" +
		"systemctl restart " + UnitName + "\n", nil
}
