package kube

import (
	"os/exec"
	"strings"
	"testing"
)

// The agent is a small static binary run on every host; cluster access
// belongs to the CLI and controller. This keeps a stray import (of this
// package, client-go or Helm) from pulling Kubernetes into it.
func TestAgentDoesNotLinkKubernetes(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to list the agent's dependencies: " + err.Error())
	}
	for _, main := range []string{
		"github.com/foundry-fleet/foundry/cmd/foundry-agent",
		"github.com/foundry-fleet/foundry/agent/...",
	} {
		out, err := exec.Command(goBin, "list", "-deps", main).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", main, err, out)
		}
		var bad []string
		for _, p := range strings.Fields(string(out)) {
			if p == "github.com/foundry-fleet/foundry/installer/kube" ||
				strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "helm.sh/") || strings.HasPrefix(p, "sigs.k8s.io/") {
				bad = append(bad, p)
			}
		}
		if len(bad) > 0 {
			t.Errorf("%s links %d Kubernetes packages, e.g. %v; the agent must not (see agent/agent.go)", main, len(bad), bad[:min(5, len(bad))])
		}
	}
}
