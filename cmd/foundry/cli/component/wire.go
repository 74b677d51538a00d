package component

import (
	"context"
	"fmt"
	"os"

	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// Wired connects the Helm verbs to what Foundry keeps: the kubeconfig
// `cluster init` stored, charts imported as artifacts (signature and
// digest checked), and secret references through the resolver chain
// (environment, ~/.foundryvars, OpenBAO).
func (e Env) Wired() Env {
	e.Cluster.Kubeconfig = func(ctx context.Context, cluster string) ([]byte, error) {
		st, _, err := e.stores()
		if err != nil {
			return nil, err
		}
		return st.LoadKubeconfig(ctx, cluster)
	}
	e.Cluster.Secrets = func(ctx context.Context, ref secrets.Ref) (string, error) {
		_, bao, err := e.stores()
		if err != nil {
			return "", err
		}
		vars, err := secrets.DefaultVarsPath()
		if err != nil {
			return "", err
		}
		r := &secrets.Resolver{Sources: []secrets.Source{secrets.EnvSource{LookupEnv: os.LookupEnv}, &secrets.VarsSource{Path: vars}, secrets.BaoSource{Client: bao}}}
		return r.Resolve(ctx, ref)
	}
	e.Cluster.Chart = func(ctx context.Context, chart, version string) ([]byte, error) {
		cl, err := e.Connect(ctx)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		arts, err := cl.ListArtifacts(ctx, messages.ArtifactListRequest{})
		if err != nil {
			return nil, err
		}
		file := chart + "-" + version + ".tgz"
		for _, a := range arts.Artifacts {
			if a.Version == version && a.File == file {
				if !a.Verified {
					return nil, fmt.Errorf("chart artifact %s is not usable (%s); import it again", a.ObjectName(), a.Problem)
				}
				return cl.DownloadArtifact(ctx, a.ArtifactRef)
			}
		}
		return nil, fmt.Errorf("chart %s %s is not imported; run foundry artifact import %s %s <path to %s>", chart, version, chartComponent(chart), version, file)
	}
	return e
}

func (e Env) stores() (*kube.Store, *secrets.BaoClient, error) {
	cfg, err := e.Stack()
	if err != nil {
		return nil, nil, err
	}
	home, err := e.Home()
	if err != nil {
		return nil, nil, err
	}
	return kube.OpenStore(home, cfg, e.Getenv, OpenBAOCAFile(e))
}

// chartComponent is the component a chart is imported under (argo-cd is
// argocd's chart).
func chartComponent(chart string) string {
	for _, c := range helm.Components() {
		if c.Chart == chart {
			return c.Name
		}
	}
	return chart
}
