// Package chartstest finds the real upstream charts the tests render and
// install (../shared/charts next to the repository, README there). They
// are read in place, never copied into the project.
package chartstest

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDir overrides where the charts are.
const EnvDir = "FOUNDRY_CHARTS_DIR"

// Dir returns the charts directory: $FOUNDRY_CHARTS_DIR, else the first
// shared/charts found walking up from the working directory. It skips t
// with the reason when there is none, since the charts are not part of
// the repository.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "charts")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	t.Skipf("no shared/charts directory above %s and %s is unset: the upstream charts are not in the repository; set %s to their directory", wd, EnvDir, EnvDir)
	return ""
}

// Archive reads one chart archive by file name (e.g. grafana-12.11.1.tgz).
func Archive(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(t), file))
	if err != nil {
		t.Fatalf("read chart: %v", err)
	}
	return b
}

// Files maps component names to their chart archives in the directory.
func Files() map[string]string {
	return map[string]string{
		"cert-manager": "cert-manager-v1.21.1.tgz",
		"contour":      "contour-21.1.4.tgz",
		"external-dns": "external-dns-1.21.1.tgz",
		"prometheus":   "prometheus-29.27.0.tgz",
		"loki":         "loki-18.11.0.tgz",
		"grafana":      "grafana-12.11.1.tgz",
		"minio":        "minio-5.4.0.tgz",
		"velero":       "velero-12.1.0.tgz",
		"argocd":       "argo-cd-10.1.1.tgz",
	}
}
