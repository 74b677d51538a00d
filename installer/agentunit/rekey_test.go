package agentunit

import (
	"strings"
	"testing"
)

func TestRekeyStageScriptMakesTheSeedOnTheHost(t *testing.T) {
	s := RekeyStageScript()
	for _, want := range []string{"set -eu\n", "rm -f '/etc/foundry/agent.nk.next'\n",
		"agent='/usr/bin/foundry-agent'; [ -x \"$agent\" ] || agent='/usr/local/bin/foundry-agent'\n",
		"\"$agent\" keygen --out '/etc/foundry/agent.nk.next'\n", "sync '/etc/foundry/agent.nk.next' '/etc/foundry'\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("stage script lacks %q:\n%s", want, s)
		}
	}
}

func TestRekeySwitchScriptChecksTheStagedKeyFirst(t *testing.T) {
	pub := "U" + strings.Repeat("A", 55)
	s, err := RekeySwitchScript(pub)
	if err != nil {
		t.Fatal(err)
	}
	check := strings.Index(s, `[ "$got" = '`+pub+`' ]`)
	mv := strings.Index(s, "mv -f '/etc/foundry/agent.nk.next' '/etc/foundry/agent.nk'\n")
	restart := strings.Index(s, "systemctl restart foundry-agent.service\n")
	if check < 0 || mv < check || restart < mv {
		t.Fatalf("switch script must check the key, then rename, then restart:\n%s", s)
	}
	for _, bad := range []string{"", "U", "UAAA", pub + "'; rm -rf /", "N" + strings.Repeat("A", 55)} {
		if _, err := RekeySwitchScript(bad); err == nil {
			t.Errorf("RekeySwitchScript(%q) accepted", bad)
		}
	}
}
