package agentunit

import (
	"os/exec"
	"strings"
	"testing"
)

// transientUnit renders a systemd-run command line the way systemd writes
// the transient unit file it creates for it: the command after the
// options becomes ExecStart, its words joined by spaces.
func transientUnit(args []string) string {
	var cmd []string
	for i, a := range args {
		if !strings.HasPrefix(a, "--") {
			cmd = args[i:]
			break
		}
	}
	return "[Service]\nExecStart=" + strings.Join(cmd, " ") + "\n"
}

// malformed counts the lines systemd would report as "Missing '=',
// ignoring line" when it re-reads the unit (daemon-reload).
func malformed(unit string) int {
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(unit, "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") || strings.HasPrefix(t, "[") {
			continue
		}
		if !strings.Contains(t, "=") {
			n++
		}
	}
	return n
}

// The removal used to pass its whole multi-line script as an argument of
// systemd-run, so the transient unit's ExecStart spanned many lines, and
// the script's own daemon-reload made systemd warn about each of them.
// Now the script goes on stdin and every transient unit is one clean
// line, with nothing systemd would expand.
func TestTransientUnitsAreSingleLine(t *testing.T) {
	old := transientUnit([]string{"--unit=foundry-agent-uninstall", "--collect", "--on-active=2", "/bin/sh", "-c", UninstallScript()})
	if n := malformed(old); n < 10 {
		t.Fatalf("the old form should show the bug (%d malformed lines)", n)
	}
	for name, args := range map[string][]string{"removal": RemovalRunArgs(), "stop": StopRunArgs()} {
		unit := transientUnit(args)
		if n := malformed(unit); n != 0 {
			t.Errorf("%s unit has %d malformed lines:\n%s", name, n, unit)
		}
		for _, a := range args {
			if strings.ContainsAny(a, "\n\r$%\\;'\"") {
				t.Errorf("%s argument %q holds a character systemd would interpret", name, a)
			}
		}
		directives(t, unit) // parses as key=value lines only
	}
	if !strings.Contains(strings.Join(RemovalRunArgs(), " "), "--wait --pipe /bin/sh -s") {
		t.Errorf("removal must wait for the script read from stdin: %q", RemovalRunArgs())
	}
	if got := strings.Join(StopRunArgs(), " "); !strings.HasSuffix(got, "/bin/systemctl stop "+UnitName) {
		t.Errorf("stop unit: %q", got)
	}
}

func TestRemovalScriptsParse(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmWc0ZQq3jFz5mS2p3bZC4pN7LwG5Q1hY8s2gkq9f0e foundry"
	for name, script := range map[string]string{
		"ssh uninstall": UninstallScript(),
		"removal":       RemovalScript("", ""),
		"removal+key":   RemovalScript("admin", key),
		"quoted user":   RemovalScript("o'brien", key),
	} {
		if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v: %s\n%s", name, err, out, script)
		}
	}
	s := RemovalScript("admin", key)
	if !strings.Contains(s, "grep -vxF '"+key+"'") || !strings.Contains(s, "getent passwd 'admin'") {
		t.Errorf("removal does not take out exactly the key line of admin:\n%s", s)
	}
	if strings.Contains(RemovalScript("", ""), "authorized_keys") {
		t.Error("without a key the removal must not touch authorized_keys")
	}
	if strings.Contains(s, "systemctl stop") {
		t.Error("the removal runs while the agent still runs; stopping it is StopRunArgs' job")
	}
}
