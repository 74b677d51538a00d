package component

import (
	"context"
	"errors"
	"fmt"

	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/installer/helm"
)

// ImageKubeVersion is the Kubernetes version charts are rendered for when
// listing images without a cluster (cert-manager refuses Helm's default).
const ImageKubeVersion = "1.35.0"

// ImageRow is one image a configured cluster component pulls.
type ImageRow struct {
	Component string `json:"component"`
	Chart     string `json:"chart"`
	Version   string `json:"version"`
	helm.ImageUse
}

// ClusterImages lists the images of every cluster component cfg
// configures, from its imported chart rendered with the config's values
// (secrets as placeholders: images never depend on them) and the mirror
// rewrite for mirror ("" for none).
func (e Env) ClusterImages(ctx context.Context, cfg *stackconfig.Config, mirror string) ([]ImageRow, error) {
	if e.Cluster.Chart == nil {
		return nil, errors.New("this foundry cannot read imported charts (no chart source is connected)")
	}
	var out []ImageRow
	for _, c := range helm.Components() {
		if configured(cfg, c) != nil || c.Name == "minio" && !cfg.MinIOWanted() {
			continue
		}
		ver, err := chartVersion(cfg, c.Name, "")
		if err != nil {
			return nil, err
		}
		values, err := helm.ValuesFor(c.Name, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		data, err := e.Cluster.Chart(ctx, c.Chart, ver)
		if err != nil {
			return nil, err
		}
		ch, err := helm.LoadChart(data, c.Chart, ver)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		uses, err := helm.ChartImages(ch, helm.Redacted(values), mirror, helm.RenderOptions{Namespace: c.Namespace, Release: c.Release(), KubeVersion: ImageKubeVersion})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		for _, u := range uses {
			out = append(out, ImageRow{Component: c.Name, Chart: c.Chart, Version: ver, ImageUse: u})
		}
	}
	return out, nil
}
