package agent

import (
	"slices"
	"testing"
)

func TestParseRemoval(t *testing.T) {
	out := "removed /etc/systemd/system/foundry-agent.service\nremoved /usr/local/bin/foundry-agent\n" +
		"removed ssh key from authorized_keys of admin\nsomething else\n"
	rep := parseRemoval(out, "removed ", "removed ssh key from authorized_keys of ")
	want := []string{"/etc/systemd/system/foundry-agent.service", "/usr/local/bin/foundry-agent"}
	if !rep.KeyRemoved || !slices.Equal(rep.Removed, want) {
		t.Fatalf("%+v", rep)
	}
	if rep := parseRemoval("", "removed ", "removed ssh key"); rep.KeyRemoved || rep.Removed == nil || len(rep.Removed) != 0 {
		t.Fatalf("empty output: %+v", rep)
	}
}
