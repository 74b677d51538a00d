package component

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// Wired connects the Helm verbs to what Foundry keeps: the kubeconfig
// `cluster init` stored, charts imported as artifacts (signature and
// digest checked; pulled from the stack's registry when it serves the
// same bytes), and secret references through the resolver chain
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
	e.Cluster.Chart = e.chartFromRegistryOrStore
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

// chartFromRegistryOrStore returns the imported chart. The artifact
// store's signed record says which bytes are the chart; they come from
// the stack's registry when it is reachable and holds exactly those
// bytes (the cluster's own copy), else from the artifact store. Which
// one is said on stderr.
func (e Env) chartFromRegistryOrStore(ctx context.Context, chart, version string) ([]byte, error) {
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
	var art *messages.Artifact
	for i, a := range arts.Artifacts {
		if a.Version == version && a.File == file {
			art = &arts.Artifacts[i]
			break
		}
	}
	if art == nil {
		return nil, fmt.Errorf("chart %s %s is not imported; run foundry artifact import %s %s %s", chart, version, chartComponent(chart), version, file)
	}
	if !art.Verified {
		return nil, fmt.Errorf("chart artifact %s is not usable (%s); import it again", art.ObjectName(), art.Problem)
	}
	say := func(format string, a ...any) {
		if e.IO != nil {
			fmt.Fprintf(e.IO.ErrOut, format+"\n", a...)
		}
	}
	reg, err := e.StackRegistry(ctx, cl)
	if err == nil {
		data, digest, perr := helm.PullChart(ctx, reg, chart, version)
		switch {
		case perr != nil:
			say("chart %s %s: not from the registry %s (%v); taking it from the artifact store", chart, version, reg.Host, firstLine(perr.Error()))
		case !strings.EqualFold(sha256Hex(data), art.SHA256):
			say("chart %s %s: the registry %s holds other bytes than the signed artifact (%s); taking it from the artifact store; re-import the chart to replace the registry's copy", chart, version, reg.Host, digest)
		default:
			say("chart %s %s: from the registry %s (%s), matching the signed artifact", chart, version, reg.Host, digest)
			return data, nil
		}
	} else if !errors.Is(err, ErrNoRegistry) {
		say("chart %s %s: no registry (%v); taking it from the artifact store", chart, version, err)
	}
	data, err := cl.DownloadArtifact(ctx, art.ArtifactRef)
	if err != nil {
		return nil, err
	}
	say("chart %s %s: from the artifact store (%s)", chart, version, art.ObjectName())
	return data, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
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
