package harness

import (
	"os"
	"strings"
	"testing"
)

func TestScriptIsFoundFromThePackageDirectory(t *testing.T) {
	p, err := Script()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p, "/e2e/testbed/hosts.sh") {
		t.Errorf("Script() = %s", p)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Errorf("hosts.sh is not an executable file: %v %v", st, err)
	}
}

func TestUnavailableSaysHowToFix(t *testing.T) {
	reason := Unavailable()
	switch {
	case os.Geteuid() != 0:
		if !strings.Contains(reason, "root") {
			t.Errorf("not root, reason %q does not say so", reason)
		}
	case reason != "":
		if !strings.Contains(reason, "apt-get install") {
			t.Errorf("reason %q does not say how to install", reason)
		}
	}
}

func TestHostAddr(t *testing.T) {
	h := Host{Index: 2, Name: "fe-2", IP: "10.77.0.12"}
	if h.Addr() != "10.77.0.12:22" {
		t.Errorf("Addr() = %s", h.Addr())
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("lastLines = %q", got)
	}
}
