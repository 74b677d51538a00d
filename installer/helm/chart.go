package helm

import (
	"bytes"
	"fmt"
	"os"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
)

// LoadChart reads a packaged chart (.tgz bytes) and checks it is the one
// imported as name and version, so a mislabelled artifact is caught
// before it reaches the registry or the cluster.
func LoadChart(data []byte, name, version string) (*chart.Chart, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read chart archive: %w", err)
	}
	if name != "" && ch.Name() != name {
		return nil, fmt.Errorf("the archive holds chart %q, not %q; import the %s chart's .tgz", ch.Name(), name, name)
	}
	if version != "" && ch.Metadata.Version != version {
		return nil, fmt.Errorf("the archive holds %s %s, not %s; import it as version %s or use the %s archive", ch.Name(), ch.Metadata.Version, version, ch.Metadata.Version, version)
	}
	return ch, nil
}

// RenderOptions are what a client-side render needs to know about the
// cluster it pretends to target.
type RenderOptions struct {
	Namespace   string
	Release     string
	KubeVersion string // e.g. 1.35.0; Helm's default (1.20) fails cert-manager's constraint
}

// Render renders ch with values without a cluster (like `helm template
// --include-crds`), hooks included; for tests, image listings and
// `--dry-run` of a first install.
func Render(ch *chart.Chart, values Values, o RenderOptions) (*release.Release, error) {
	cfg := &action.Configuration{}
	inst := action.NewInstall(cfg)
	inst.DryRun, inst.ClientOnly, inst.IncludeCRDs, inst.Replace = true, true, true, true
	inst.ReleaseName, inst.Namespace = o.Release, o.Namespace
	if o.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(o.KubeVersion)
		if err != nil {
			return nil, err
		}
		inst.KubeVersion = kv
	}
	rel, err := inst.Run(ch, values)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", ch.Name(), err)
	}
	return rel, nil
}

// LoadChartFile reads a packaged chart from disk, any name and version.
func LoadChartFile(path string) (*chart.Chart, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return LoadChart(data, "", "")
}
