package helm_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm"
)

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(helm.Values)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestContourValues(t *testing.T) {
	v := helm.ContourValues(config.Contour{})
	if get(v, "contour", "replicaCount") != 1 || get(v, "envoy", "service", "type") != "LoadBalancer" {
		t.Errorf("defaults: %v", v)
	}
	v = helm.ContourValues(config.Contour{Replicas: 3, ServiceType: "NodePort"})
	if get(v, "contour", "replicaCount") != 3 || get(v, "envoy", "service", "type") != "NodePort" {
		t.Errorf("typed: %v", v)
	}
}

func TestCertManagerValuesInstallCRDs(t *testing.T) {
	if get(helm.CertManagerValues(config.CertManager{}), "crds", "enabled") != true {
		t.Error("crds.enabled is not true")
	}
}

func TestExternalDNSValues(t *testing.T) {
	if _, err := helm.ExternalDNSValues(config.ExternalDNS{}, "prod"); err == nil {
		t.Error("no provider: want an error")
	}
	if _, err := helm.ExternalDNSValues(config.ExternalDNS{Provider: "aws", Credentials: "hunter2"}, "prod"); !errors.Is(err, secrets.ErrMalformedRef) {
		t.Errorf("inline credentials: %v, want a reference error", err)
	}
	v, err := helm.ExternalDNSValues(config.ExternalDNS{Provider: "cloudflare", DomainFilters: []string{"a.example", "b.example"},
		Credentials: "${secret:foundry/dns:token}"}, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if get(v, "provider", "name") != "cloudflare" || !reflect.DeepEqual(v["domainFilters"], []any{"a.example", "b.example"}) || v["txtOwnerId"] != "prod" {
		t.Errorf("values: %v", v)
	}
	if get(v, "secretConfiguration", "data", "credentials") != "${secret:foundry/dns:token}" {
		t.Errorf("credentials are not the reference: %v", v["secretConfiguration"])
	}
	env := v["env"].([]any)[0].(helm.Values)
	if env["name"] != "CF_API_TOKEN" || get(env, "valueFrom", "secretKeyRef", "name") != "external-dns" {
		t.Errorf("cloudflare env: %v", env)
	}
}

func TestPrometheusAndLokiValues(t *testing.T) {
	p := helm.PrometheusValues(config.ObservabilitySettings{Retention: "30d", Storage: &config.VolumeStorage{Size: "20Gi"}})
	if get(p, "server", "retention") != "30d" || get(p, "server", "persistentVolume", "size") != "20Gi" {
		t.Errorf("prometheus: %v", p)
	}
	if get(helm.PrometheusValues(config.ObservabilitySettings{}), "server", "retention") != "15d" {
		t.Error("prometheus default retention is not the chart's 15d")
	}
	l := helm.LokiValues(config.ObservabilitySettings{Retention: "90d"})
	if l["deploymentMode"] != "SingleBinary" || get(l, "loki", "storage", "type") != "filesystem" ||
		get(l, "loki", "limits_config", "retention_period") != "90d" || get(l, "loki", "compactor", "retention_enabled") != true {
		t.Errorf("loki: %v", l)
	}
}

func TestObservabilitySectionFeedsValues(t *testing.T) {
	c := &config.Config{
		Components:    config.Components{Prometheus: &config.Prometheus{Storage: &config.VolumeStorage{Size: "9Gi"}}},
		Observability: &config.Observability{Prometheus: &config.ObservabilitySettings{Retention: "45d"}, Loki: &config.ObservabilitySettings{Retention: "7d"}},
	}
	p, _ := helm.ValuesFor("prometheus", c)
	if get(p, "server", "retention") != "45d" || get(p, "server", "persistentVolume", "size") != "9Gi" {
		t.Errorf("prometheus: %v", p)
	}
	l, _ := helm.ValuesFor("loki", c)
	if get(l, "loki", "limits_config", "retention_period") != "7d" {
		t.Errorf("loki: %v", l)
	}
}

func TestGrafanaValues(t *testing.T) {
	v := helm.GrafanaValues(config.Grafana{}, true, true)
	if v["adminPassword"] != "${secret:foundry/grafana:admin_password}" {
		t.Errorf("default password reference: %v", v["adminPassword"])
	}
	ds := get(v, "datasources", "datasources.yaml", "datasources").([]any)
	if len(ds) != 2 || ds[0].(helm.Values)["type"] != "prometheus" || ds[1].(helm.Values)["url"] != "http://loki.loki.svc:3100" {
		t.Errorf("data sources: %v", ds)
	}
	if v := helm.GrafanaValues(config.Grafana{}, false, false); v["datasources"] != nil {
		t.Errorf("data sources without stores: %v", v["datasources"])
	}
}

func TestVeleroValues(t *testing.T) {
	v, err := helm.VeleroValues(config.Velero{Schedule: "@daily"}, config.MinIO{}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	bsl := get(v, "configuration", "backupStorageLocation").([]any)[0].(helm.Values)
	if bsl["provider"] != "aws" || bsl["bucket"] != "velero" || get(bsl, "config", "s3Url") != "http://minio.minio.svc:9000" {
		t.Errorf("minio location: %v", bsl)
	}
	creds := get(v, "credentials", "secretContents", "cloud").(string)
	if !strings.Contains(creds, "${secret:foundry/minio:root_user}") || !strings.Contains(creds, "${secret:foundry/minio:root_password}") {
		t.Errorf("minio credentials: %q", creds)
	}
	if get(v, "schedules", "daily", "schedule") != "@daily" {
		t.Errorf("schedule: %v", v["schedules"])
	}

	st := &config.Storage{TrueNAS: &config.TrueNAS{S3Endpoint: "https://nas:9000"}}
	if _, err := helm.VeleroValues(config.Velero{}, config.MinIO{}, st, false); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("truenas without credentials: %v", err)
	}
	v, err = helm.VeleroValues(config.Velero{Bucket: "backups", Credentials: "${secret:foundry/velero:cloud}"}, config.MinIO{}, st, false)
	if err != nil {
		t.Fatal(err)
	}
	bsl = get(v, "configuration", "backupStorageLocation").([]any)[0].(helm.Values)
	if bsl["bucket"] != "backups" || get(bsl, "config", "s3Url") != "https://nas:9000" || get(v, "credentials", "secretContents", "cloud") != "${secret:foundry/velero:cloud}" {
		t.Errorf("truenas: %v", v)
	}
	if _, err := helm.VeleroValues(config.Velero{Backend: "truenas"}, config.MinIO{}, nil, true); err == nil {
		t.Error("truenas backend without s3_endpoint: want an error")
	}
}

func TestMinIOValuesStandaloneWithReferences(t *testing.T) {
	v := helm.MinIOValues(config.MinIO{RootPassword: "${secret:ops/minio:pw}"})
	if v["mode"] != "standalone" || v["replicas"] != 1 || v["rootPassword"] != "${secret:ops/minio:pw}" || v["rootUser"] != "${secret:foundry/minio:root_user}" {
		t.Errorf("minio: %v", v)
	}
}

func TestArgoCDValues(t *testing.T) {
	if v := helm.ArgoCDValues(config.ArgoCD{}, helm.StackRegistry{}); len(v) != 0 {
		t.Errorf("non-HA without a registry: %v", v)
	}
	if get(helm.ArgoCDValues(config.ArgoCD{HA: true}, helm.StackRegistry{}), "redis-ha", "enabled") != true {
		t.Error("HA without redis-ha")
	}
}

func TestValuesForUnknownComponent(t *testing.T) {
	if _, err := helm.ValuesFor("zot", &config.Config{}); err == nil || !strings.Contains(err.Error(), "not a cluster component") {
		t.Errorf("zot: %v", err)
	}
}

func TestResolveAndRedact(t *testing.T) {
	v := helm.Values{
		"adminPassword": "${secret:foundry/grafana:admin_password}",
		"list":          []any{"plain", helm.Values{"cloud": "[default]\nkey=${secret:a/b:k}\n"}},
		"n":             3,
	}
	res, err := helm.Resolve(context.Background(), v, fakeSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if res.Values["adminPassword"] != "s3cr3t-foundry-grafana:admin_password" ||
		get(res.Values["list"].([]any)[1], "cloud") != "[default]\nkey=s3cr3t-a-b:k\n" || res.Values["n"] != 3 {
		t.Errorf("resolved: %v", res.Values)
	}
	if v["adminPassword"] != "${secret:foundry/grafana:admin_password}" {
		t.Error("Resolve changed its input")
	}
	red := helm.Redacted(v)
	if red["adminPassword"] != helm.Masked || get(red["list"].([]any)[1], "cloud") != helm.Masked || red["list"].([]any)[0] != "plain" {
		t.Errorf("redacted: %v", red)
	}
	text := "password: s3cr3t-foundry-grafana:admin_password\ndata: " + encode("s3cr3t-foundry-grafana:admin_password")
	if got := res.Mask(text); strings.Contains(got, "s3cr3t") || strings.Count(got, helm.Masked) != 2 {
		t.Errorf("masked: %q", got)
	}

	failing := func(context.Context, secrets.Ref) (string, error) { return "", secrets.ErrNotFound }
	if _, err := helm.Resolve(context.Background(), v, failing); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("unresolvable: %v", err)
	}
}

func TestMirrorRef(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io/grafana/grafana:13.2.0":         "m:5000/grafana/grafana:13.2.0",
		"grafana/grafana:13.2.0":                   "m:5000/grafana/grafana:13.2.0",
		"busybox":                                  "m:5000/library/busybox",
		"quay.io/jetstack/cert-manager-webhook:v1": "m:5000/jetstack/cert-manager-webhook:v1",
		"localhost/x/y@sha256:abc":                 "m:5000/x/y@sha256:abc",
		"registry.k8s.io:443/kubectl:v1.33.0":      "m:5000/kubectl:v1.33.0",
		"m:5000/already/there:1":                   "m:5000/already/there:1",
	} {
		if got := helm.MirrorRef("m:5000", in); got != want {
			t.Errorf("MirrorRef(%q) = %q, want %q", in, got, want)
		}
	}
	if got := helm.MirrorRef("", "busybox"); got != "busybox" {
		t.Errorf("no mirror: %q", got)
	}
}
