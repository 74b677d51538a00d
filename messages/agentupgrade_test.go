package messages

import (
	"strings"
	"testing"
)

func TestCompareVersionsIsNumericByRunsAndRanksCandidatesFirst(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.10.0", "1.9.9", 1}, {"1.0.0", "1.0.0", 0}, {"0.9", "1.0", -1}, {"1.0.0-rc1", "1.0.0", -1}, {"2", "10", -1},
	} {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestAgentVersionChangeRefusesDowngradeUnlessAllowed(t *testing.T) {
	if s, err := AgentVersionChange("1.0.0", "1.1.0", false); err != nil || s != "upgrade 1.0.0 → 1.1.0" {
		t.Errorf("upgrade: %q %v", s, err)
	}
	if s, err := AgentVersionChange("1.1.0", "1.1.0", false); err != nil || s != "already at 1.1.0" {
		t.Errorf("same: %q %v", s, err)
	}
	if _, err := AgentVersionChange("1.1.0", "1.0.0", false); CodeOf(err) != CodeConflict || !strings.Contains(err.Error(), "--allow-downgrade") {
		t.Errorf("downgrade: %v", err)
	}
	if s, err := AgentVersionChange("1.1.0", "1.0.0", true); err != nil || s != "downgrade 1.1.0 → 1.0.0" {
		t.Errorf("allowed downgrade: %q %v", s, err)
	}
}

func TestAgentArtifactForPicksTheHostsArchitecture(t *testing.T) {
	refs := []ArtifactRef{{File: "foundry-agent_1.0_linux_arm64"}, {File: "foundry-agent_1.0_linux_amd64"}}
	if r, ok := AgentArtifactFor(refs, "amd64"); !ok || r.File != "foundry-agent_1.0_linux_amd64" {
		t.Errorf("amd64: %+v %v", r, ok)
	}
	if _, ok := AgentArtifactFor(refs[:1], "amd64"); ok {
		t.Error("an arm64 build was picked for amd64")
	}
	if r, ok := AgentArtifactFor([]ArtifactRef{{File: "foundry-agent"}}, "amd64"); !ok || r.File != "foundry-agent" {
		t.Errorf("single unnamed build: %+v %v", r, ok)
	}
}

func TestAgentUpgradeValidate(t *testing.T) {
	ok := ArtifactRef{Component: AgentComponent, Version: "1.1.0", File: "foundry-agent", Size: 1, SHA256: strings.Repeat("a", 64), KeyID: "k", Sig: []byte{1}}
	if err := (AgentUpgrade{Version: "1.1.0", Artifacts: []ArtifactRef{ok}}).Validate(); err != nil {
		t.Fatal(err)
	}
	other := ok
	other.Component = "openbao"
	for _, u := range []AgentUpgrade{
		{Version: "1.1.0"},
		{Version: "1.1.0", Artifacts: []ArtifactRef{other}},
		{Version: "../x", Artifacts: []ArtifactRef{ok}},
		{Version: "1.1.0", Artifacts: []ArtifactRef{ok}, DeadlineMs: 10},
	} {
		if err := u.Validate(); err == nil {
			t.Errorf("%+v is valid", u)
		}
	}
}
