package bootstrap

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/installer/agentunit"
)

func TestParseProbe(t *testing.T) {
	sum := strings.Repeat("a", 64)
	full := sum + "  /usr/bin/foundry-agent\n" + sum + "  /etc/foundry/agent.yaml\n- /etc/foundry/ca.pem\n" +
		sum + "  /lib/systemd/system/foundry-agent.service\n" + "? /etc/foundry/agent.nk\n- /usr/local/bin/foundry-agent\n- /etc/systemd/system/foundry-agent.service\n" +
		"enabled enabled\nactive active\narch amd64\npackage install_ok_installed|0~e2e\n"
	st, err := parseProbe(full)
	if err != nil {
		t.Fatal(err)
	}
	if !st.installed() || !st.enabled || !st.active || len(st.sums) != 4 || st.sums["/etc/foundry/ca.pem"] != "" || st.sums["/etc/foundry/agent.nk"] != "?" ||
		!st.dpkg || st.arch != "amd64" || st.pkgStatus != pkgInstalled || st.pkgVersion != "0~e2e" || st.legacy() {
		t.Fatalf("%+v", st)
	}
	bare := "- /usr/bin/foundry-agent\n- /etc/foundry/agent.yaml\n- /etc/foundry/ca.pem\n- /lib/systemd/system/foundry-agent.service\n- /etc/foundry/agent.nk\n" +
		"- /usr/local/bin/foundry-agent\n- /etc/systemd/system/foundry-agent.service\nenabled \nactive inactive\narch arm64\npackage \n"
	st, err = parseProbe(bare)
	if err != nil || st.installed() || st.enabled || st.active || !st.dpkg || st.arch != "arm64" || st.pkgStatus != "" {
		t.Fatalf("bare: %+v %v", st, err)
	}
	// Removed but not purged: dpkg still knows it, it is not installed.
	st, err = parseProbe(strings.Replace(bare, "package \n", "package deinstall_ok_config-files|1.2.0\n", 1))
	if err != nil || st.installed() || st.pkgStatus != "deinstall ok config-files" {
		t.Fatalf("removed package: %+v %v", st, err)
	}
	old := strings.Replace(bare, "- /usr/local/bin/foundry-agent", sum+"  /usr/local/bin/foundry-agent", 1)
	if st, err = parseProbe(strings.Replace(old, "arch arm64\npackage \n", "nodpkg\n", 1)); err != nil || !st.legacy() || !st.installed() || st.dpkg {
		t.Fatalf("old layout without dpkg: %+v %v", st, err)
	}
	for _, bad := range []string{"", "garbage line here\n", "- /usr/bin/foundry-agent\nenabled enabled\n"} {
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
	if strings.Contains(authorizeKeyScript(), "ssh-ed25519") || strings.Contains(UnauthorizeKeyScript(), "ssh-ed25519") {
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

func TestInstallBinaryScriptRunsLocally(t *testing.T) {
	// The script is plain sh; run it against a temp destination to prove
	// the read-verify-rename path, that the binary's bytes leave the second
	// half on stdin, and that a wrong sum keeps the old file.
	dir := t.TempDir()
	dst := dir + "/agent"
	bin := []byte("#!/bin/sh\necho new agent\n")
	script := strings.ReplaceAll(scriptHeader()+installBinaryScript(sha(bin), len(bin))+secondHalfScript(), agentunit.DefaultBinary, dst)
	script = strings.ReplaceAll(script, `[ "$(id -u)" = 0 ]`, "true")
	script = strings.ReplaceAll(script, "chown root:root \"$tmp\" && ", "")
	run := func(payload []byte) error {
		cmd := exec.Command("/bin/sh", "-ec", script)
		cmd.Stdin = io.MultiReader(bytes.NewReader(payload), strings.NewReader("echo second half ran\n"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(string(out), "second half ran") {
			return fmt.Errorf("the second half did not run: %s", out)
		}
		return nil
	}
	if err := run(bin); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, bin) {
		t.Fatalf("installed %q", got)
	}
	tampered := bytes.Clone(bin)
	tampered[len(tampered)-2] = '!'
	if err := run(tampered); err == nil || !strings.Contains(err.Error(), "sha256 mismatch") ||
		!strings.Contains(err.Error(), "failed at step: install agent binary") {
		t.Fatalf("tampered binary: %v", err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, bin) {
		t.Fatal("a failed transfer replaced the installed agent")
	}
	if left, _ := filepath.Glob(dst + ".foundry-new.*"); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// TestOutcome: a run that only rewrote a running agent's config (another
// --role or --label) was reported "repaired", as if the host had been
// broken.
func TestOutcome(t *testing.T) {
	healthy := hostState{sums: map[string]string{agentunit.DefaultBinary: "x", agentunit.DefaultConfig: "y"}, enabled: true, active: true}
	stopped := healthy
	stopped.active = false
	for _, tc := range []struct {
		name    string
		before  hostState
		changes []string
		want    string
	}{
		{"nothing", healthy, nil, Unchanged},
		{"fresh host", hostState{sums: map[string]string{}}, []string{"agent package 1.0", "identity"}, Added},
		{"package installed with dpkg -i, adopted", hostState{sums: map[string]string{agentunit.DefaultBinary: "x", agentunit.UnitPath: "u"}, pkgStatus: pkgInstalled},
			[]string{"identity", agentunit.DefaultConfig}, Added},
		{"new role or labels", healthy, []string{agentunit.DefaultConfig}, Updated},
		{"config rewritten for a stopped agent", stopped, []string{agentunit.DefaultConfig}, Repaired},
		{"config and unit", healthy, []string{agentunit.DefaultConfig, agentunit.UnitPath}, Repaired},
		{"identity re-enrolled", healthy, []string{"identity re-enrolled", agentunit.DefaultConfig}, Repaired},
		{"agent restarted", stopped, []string{"agent restarted"}, Repaired},
	} {
		if got := outcome(tc.before, tc.changes); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
