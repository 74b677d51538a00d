package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/installer/ssh"
)

// rootSession against a real shell: the script reads its first input,
// prints a line, then runs the second half sent after that line was read.
func TestRootSessionTalksWithTheScript(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("runs the script as root through ssh.Local; needs root (make test runs as root in CI)")
	}
	r := ssh.NewLocal(ssh.LocalOptions{})
	defer r.Close()
	out := filepath.Join(t.TempDir(), "out")
	script := "set -eu\nhead -c 5 > " + out + "\necho \"key-$(cat " + out + ")\"\n" + secondHalfScript()
	s := startRoot(context.Background(), r, script, strings.NewReader("hello"))
	line, err := s.firstLine()
	if err != nil || line != "key-hello" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if err := s.finish("echo \"$(cat " + out + ") again\" > " + out + "\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "hello again\n" {
		t.Fatalf("second half wrote %q", b)
	}

	// A script that fails before its line reports its own error, and
	// finish after that neither blocks nor hides it.
	s = startRoot(context.Background(), r, "echo broken >&2; exit 7\n"+secondHalfScript(), strings.NewReader(""))
	if _, err := s.firstLine(); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("failing script: %v", err)
	}
	if err := s.finish("echo never"); err == nil {
		t.Fatal("finish after a failed script returned no error")
	}
}
