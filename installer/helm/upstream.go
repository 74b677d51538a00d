package helm

import (
	"fmt"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
)

// Upstream is where each cluster component's chart is published: a
// classic Helm repository URL, or an oci:// repository (Bitnami's).
func Upstream(chart string) (string, bool) {
	u, ok := map[string]string{
		"cert-manager": "https://charts.jetstack.io",
		"contour":      "oci://registry-1.docker.io/bitnamicharts",
		"external-dns": "https://kubernetes-sigs.github.io/external-dns/",
		"prometheus":   "https://prometheus-community.github.io/helm-charts",
		"loki":         "https://grafana.github.io/helm-charts",
		"grafana":      "https://grafana.github.io/helm-charts",
		"minio":        "https://charts.min.io/",
		"velero":       "https://vmware-tanzu.github.io/helm-charts",
		"argo-cd":      "https://argoproj.github.io/argo-helm",
	}[chart]
	return u, ok
}

// PullUpstream downloads chart at version ("" for the newest) from its
// upstream repository into dir, the way `helm pull` does, and returns
// the archive's path. It needs internet, which an air-gapped site does
// not have: run it on a machine that has, then import the file. It uses
// Helm's own settings (HELM_* variables, Helm's cache directory) since
// that is what an operator's `helm pull` would do; no credentials are
// read or kept.
//
// Untested here: the test machines have no internet.
func PullUpstream(chart, version, dir string) (string, error) {
	repo, ok := Upstream(chart)
	if !ok {
		return "", fmt.Errorf("no upstream repository is known for chart %q", chart)
	}
	rc, err := registry.NewClient(registry.ClientOptEnableCache(true))
	if err != nil {
		return "", err
	}
	p := action.NewPullWithOpts(action.WithConfig(&action.Configuration{RegistryClient: rc}))
	p.Settings = cli.New()
	p.Version, p.DestDir = version, dir
	ref := chart
	if strings.HasPrefix(repo, registry.OCIScheme+"://") {
		ref = repo + "/" + chart
	} else {
		p.RepoURL = repo
	}
	p.SetRegistryClient(rc)
	before, _ := filepath.Glob(filepath.Join(dir, chart+"-*.tgz"))
	if _, err := p.Run(ref); err != nil {
		return "", fmt.Errorf("pull %s from %s: %w; this needs internet: pull on a machine that has it and copy the .tgz here", chart, repo, err)
	}
	if version != "" {
		return filepath.Join(dir, chart+"-"+version+".tgz"), nil
	}
	after, _ := filepath.Glob(filepath.Join(dir, chart+"-*.tgz"))
	for _, a := range after {
		if !contains(before, a) {
			return a, nil
		}
	}
	if len(after) > 0 {
		return after[len(after)-1], nil
	}
	return "", fmt.Errorf("pull %s: helm wrote no %s-*.tgz in %s", chart, chart, dir)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
