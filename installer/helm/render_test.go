package helm_test

import (
	"context"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
)

const mirror = "mirror.test:5000"

// fullStack configures all nine components; External-DNS with
// credentials and Velero on MinIO, so every secret path is rendered.
func fullStack() *config.Config {
	return &config.Config{
		Cluster: config.Cluster{Name: "prod", Domain: "example.com"},
		Components: config.Components{
			Contour:     &config.Contour{Replicas: 2, ServiceType: "NodePort"},
			CertManager: &config.CertManager{},
			ExternalDNS: &config.ExternalDNS{Provider: "aws", DomainFilters: []string{"example.com"}, Credentials: "${secret:foundry/dns:credentials}"},
			Prometheus:  &config.Prometheus{Retention: "30d", Storage: &config.VolumeStorage{Size: "50Gi"}},
			Loki:        &config.Loki{Retention: "90d"},
			Grafana:     &config.Grafana{AdminPassword: "${secret:foundry/grafana:admin_password}"},
			MinIO:       &config.MinIO{Deploy: "auto"},
			Velero:      &config.Velero{Schedule: "0 2 * * *"},
			ArgoCD:      &config.ArgoCD{},
		},
	}
}

// fakeSecrets answers every reference with a value derived from it, so a
// test can look for exactly that value in rendered text.
func fakeSecrets(_ context.Context, r secrets.Ref) (string, error) {
	return "s3cr3t-" + strings.ReplaceAll(r.PathKey(), "/", "-"), nil
}

// TestValuesRenderEveryRealChart: the values built from a full stack
// config, secrets resolved and images mirrored, render each of the nine
// upstream charts for Kubernetes 1.35 without error, and every image the
// rendered manifests (hooks included) run is on the mirror.
func TestValuesRenderEveryRealChart(t *testing.T) {
	files := chartstest.Files()
	cfg := fullStack()
	for _, c := range helm.Components() {
		t.Run(c.Name, func(t *testing.T) {
			ch, err := helm.LoadChart(chartstest.Archive(t, files[c.Name]), c.Chart, "")
			if err != nil {
				t.Fatal(err)
			}
			v, err := helm.ValuesFor(c.Name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := helm.Resolve(context.Background(), v, fakeSecrets)
			if err != nil {
				t.Fatal(err)
			}
			final, err := helm.WithMirror(ch, res.Values, mirror)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := helm.Render(ch, final, helm.RenderOptions{Namespace: c.Namespace, Release: c.Release(), KubeVersion: "1.35.0"})
			if err != nil {
				t.Fatal(err)
			}
			objs, err := helm.Objects(helm.ReleaseText(rel), c.Namespace)
			if err != nil {
				t.Fatal(err)
			}
			imgs := helm.Images(objs)
			if len(imgs) == 0 {
				t.Fatal("no images rendered")
			}
			for _, img := range imgs {
				if !strings.HasPrefix(img, mirror+"/") {
					t.Errorf("image %s is not on the mirror", img)
				}
			}
			t.Logf("%d objects, images %v", len(objs), imgs)
			checkRendered(t, c.Name, objs)
		})
	}
}

// checkRendered looks for each component's typed values in its render.
func checkRendered(t *testing.T, name string, objs []helm.Object) {
	t.Helper()
	kinds := map[string]int{}
	text := ""
	for _, o := range objs {
		kinds[o.Kind]++
		text += o.Text + "\n"
	}
	want := func(s string) {
		t.Helper()
		if !strings.Contains(text, s) {
			t.Errorf("render lacks %q", s)
		}
	}
	switch name {
	case "cert-manager":
		if kinds["CustomResourceDefinition"] < 6 {
			t.Errorf("cert-manager rendered %d CRDs, want its 6 (crds.enabled)", kinds["CustomResourceDefinition"])
		}
	case "contour":
		want("type: NodePort")
		want("replicas: 2")
	case "external-dns":
		want("--provider=aws")
		want("--domain-filter=example.com")
		want("AWS_SHARED_CREDENTIALS_FILE")
		want(b64("s3cr3t-foundry-dns:credentials"))
	case "prometheus":
		want("--storage.tsdb.retention.time=30d")
		want(`storage: "50Gi"`)
	case "loki":
		want("retention_period: 90d")
		if kinds["StatefulSet"] == 0 {
			t.Error("loki rendered no StatefulSet (single binary)")
		}
	case "grafana":
		want(prometheusURLInRender)
		want("type: loki")
		want(b64("s3cr3t-foundry-grafana:admin_password"))
	case "velero":
		want(`s3Url: "http://minio.minio.svc:9000"`)
		want("provider: aws")
		want(`schedule: "0 2 * * *"`)
	case "minio":
		want(b64("s3cr3t-foundry-minio:root_password"))
	}
}

const prometheusURLInRender = "url: http://prometheus-server.monitoring.svc"

func b64(s string) string { return encode(s) }
