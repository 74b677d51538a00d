package bootstrap

import (
	"strings"
	"testing"
)

func TestParseProbe(t *testing.T) {
	sum := strings.Repeat("a", 64)
	full := sum + "  /usr/local/bin/foundry-agent\n" + sum + "  /etc/foundry/agent.yaml\n- /etc/foundry/ca.pem\n" +
		sum + "  /etc/systemd/system/foundry-agent.service\n" + "? /etc/foundry/agent.nk\nenabled enabled\nactive active\n"
	st, err := parseProbe(full)
	if err != nil {
		t.Fatal(err)
	}
	if !st.installed() || !st.enabled || !st.active || len(st.sums) != 4 || st.sums["/etc/foundry/ca.pem"] != "" || st.sums["/etc/foundry/agent.nk"] != "?" {
		t.Fatalf("%+v", st)
	}
	bare := "- /usr/local/bin/foundry-agent\n- /etc/foundry/agent.yaml\n- /etc/foundry/ca.pem\n- /etc/systemd/system/foundry-agent.service\n- /etc/foundry/agent.nk\nenabled \nactive inactive\n"
	st, err = parseProbe(bare)
	if err != nil || st.installed() || st.enabled || st.active {
		t.Fatalf("bare: %+v %v", st, err)
	}
	for _, bad := range []string{"", "garbage line here\n", "- /usr/local/bin/foundry-agent\nenabled enabled\n"} {
		if _, err := parseProbe(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestScriptsQuoteAndCoverEveryManagedFile(t *testing.T) {
	p := probeScript()
	for _, f := range managedFiles {
		if !strings.Contains(p, f) || !strings.Contains(backupScript(managedFiles), f+".foundry-prev") ||
			!strings.Contains(restoreScript(managedFiles), f) || !strings.Contains(dropBackupsScript(managedFiles), f) {
			t.Errorf("%s missing from a script", f)
		}
	}
	if got := backupScript([]string{"/etc/it's here"}); !strings.Contains(got, `'/etc/it'\''s here'`) {
		t.Errorf("path not quoted: %s", got)
	}
	// The key line travels on stdin, never in the command line.
	if strings.Contains(authorizeKeyScript(), "ssh-ed25519") || strings.Contains(unauthorizeKeyScript(), "ssh-ed25519") {
		t.Error("key material in a script")
	}
}

func TestStepErrorNamesStepCommandStderrAndExitCode(t *testing.T) {
	e := &StepError{Host: "web-1", Step: "identity", Command: "sudo foundry-agent keygen", Stderr: "exec format error\n", ExitCode: 126, Err: errRemote}
	want := `web-1: step "identity" failed: remote command failed (command "sudo foundry-agent keygen" exited 126: exec format error)`
	if e.Error() != want {
		t.Fatalf("got  %s\nwant %s", e.Error(), want)
	}
}
