package harness

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// K3sStandin returns the path of the k3s STAND-IN binary (real upstream
// kube-apiserver, controllers, scheduler and etcd; kwok-simulated kubelet;
// see e2e/k3s-standin/README.md) that e2e tests import as the "k3s"
// artifact. It is $FOUNDRY_E2E_K3S when set (make e2e sets it), else what
// e2e/k3s-standin/build.sh builds or has cached. A failed build fails the
// test rather than skipping it: a missing k3s is a broken suite.
func K3sStandin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FOUNDRY_E2E_K3S"); p != "" {
		if !isFile(p) {
			t.Fatalf("FOUNDRY_E2E_K3S=%s: no such file", p)
		}
		return p
	}
	script, err := k3sStandinScript()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build k3s stand-in (%s): %v\n%s", script, err, lastLines(stderr.String(), 30))
	}
	p := strings.TrimSpace(string(out))
	if !isFile(p) {
		t.Fatalf("k3s stand-in build printed %q, which is not a file", p)
	}
	return p
}

// k3sStandinScript finds e2e/k3s-standin/build.sh the way Script finds
// hosts.sh: from the working directory upwards, else next to this file.
func k3sStandinScript() (string, error) {
	rel := filepath.Join("e2e", "k3s-standin", "build.sh")
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if p := filepath.Join(d, rel); isFile(p) {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		if p := filepath.Join(filepath.Dir(file), "..", "k3s-standin", "build.sh"); isFile(p) {
			return filepath.Clean(p), nil
		}
	}
	return "", errors.New("e2e/k3s-standin/build.sh not found: run from the repository or set FOUNDRY_E2E_K3S")
}
