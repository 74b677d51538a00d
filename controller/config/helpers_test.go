package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// minimal is the smallest valid config.
const minimal = `version: "1.0"
cluster:
  name: prod
  domain: example.com
  nodes:
    - hostname: node1.example.com
      role: control-plane
`

// writeFile writes text to a real file in a temp dir with mode, and
// returns its path.
func writeFile(t *testing.T, name, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

// loadProblems writes, loads and validates text, failing the test if it is
// not even YAML.
func loadProblems(t *testing.T, text string, mode os.FileMode) (string, Problems) {
	t.Helper()
	p := writeFile(t, "stack.yaml", text, mode)
	f, err := Load(p)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p, f.Validate()
}

// want is one expected problem: where, and words the message must hold.
type want struct {
	at       string // "line:col"
	severity Severity
	contains []string
}

func assertProblems(t *testing.T, path string, got Problems, wants ...want) {
	t.Helper()
	for _, w := range wants {
		prefix := path + ":" + w.at + ": "
		found := false
		for _, p := range got {
			s := p.String()
			if p.Severity != w.severity || !strings.HasPrefix(s, prefix) {
				continue
			}
			ok := true
			for _, c := range w.contains {
				ok = ok && strings.Contains(s, c)
			}
			if ok {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no %s at %s containing %q; got:\n%s", w.severity, w.at, w.contains, got)
		}
	}
}

func e(at string, contains ...string) want { return want{at, SeverityError, contains} }
func w(at string, contains ...string) want { return want{at, SeverityWarning, contains} }
