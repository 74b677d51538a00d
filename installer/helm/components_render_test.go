package helm_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
	"github.com/foundry-fleet/foundry/installer/helm/dashboards"
)

// rendered is one component's real chart rendered with the values its
// config gives, secrets resolved by fakeSecrets and images mirrored,
// as `component install` would hand them to Helm.
type rendered struct {
	objs     []helm.Object
	text     string
	resolved helm.Resolved
	values   helm.Values // before resolution: references only
}

func renderComponent(t *testing.T, name string, cfg *config.Config) rendered {
	t.Helper()
	return renderWith(t, name, cfg, fakeSecrets)
}

func renderWith(t *testing.T, name string, cfg *config.Config, lookup helm.SecretLookup) rendered {
	t.Helper()
	c, err := helm.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := helm.LoadChart(chartstest.Archive(t, chartstest.Files()[name]), c.Chart, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := helm.ValuesFor(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	withMirror, err := helm.WithMirror(ch, v, mirror)
	if err != nil {
		t.Fatal(err)
	}
	res, err := helm.Resolve(context.Background(), withMirror, lookup)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := helm.Render(ch, res.Values, helm.RenderOptions{Namespace: c.Namespace, Release: c.Release(), KubeVersion: "1.35.0"})
	if err != nil {
		t.Fatal(err)
	}
	text := helm.ReleaseText(rel)
	objs, err := helm.Objects(text, c.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	return rendered{objs: objs, text: text, resolved: res, values: v}
}

// one returns the only object of kind whose name ends with suffix.
func (r rendered) one(t *testing.T, kind, suffix string) helm.Object {
	t.Helper()
	var found []helm.Object
	for _, o := range r.objs {
		if o.Kind == kind && strings.HasSuffix(o.Name, suffix) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		var ids []string
		for _, o := range r.objs {
			if o.Kind == kind {
				ids = append(ids, o.ID())
			}
		}
		t.Fatalf("%d %s named *%s, want 1; %ss: %v", len(found), kind, suffix, kind, ids)
	}
	return found[0]
}

func (r rendered) count(kind string) int {
	n := 0
	for _, o := range r.objs {
		if o.Kind == kind {
			n++
		}
	}
	return n
}

// dig walks maps and lists ("0" indexes a list) in a parsed object.
func dig(v any, path ...string) any {
	for _, p := range path {
		switch t := v.(type) {
		case map[string]any:
			v = t[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// container returns the pod template's container name of a workload.
func container(t *testing.T, o helm.Object, name string) map[string]any {
	t.Helper()
	cs, _ := dig(o.Body, "spec", "template", "spec", "containers").([]any)
	for _, c := range cs {
		if m := c.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("%s has no container %s", o.ID(), name)
	return nil
}

func args(c map[string]any) string {
	var s []string
	for _, a := range append(asList(c["args"]), asList(c["command"])...) {
		s = append(s, fmt.Sprint(a))
	}
	return strings.Join(s, " ")
}

func asList(v any) []any { l, _ := v.([]any); return l }

// secretData decodes key of a Secret (data is base64, stringData plain).
func secretData(t *testing.T, o helm.Object, key string) string {
	t.Helper()
	if s, ok := dig(o.Body, "stringData", key).(string); ok {
		return s
	}
	enc, ok := dig(o.Body, "data", key).(string)
	if !ok {
		t.Fatalf("%s has no key %s", o.ID(), key)
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("%s %s: %v", o.ID(), key, err)
	}
	return string(b)
}

func stack(cs config.Components) *config.Config {
	return &config.Config{Cluster: config.Cluster{Name: "prod", Domain: "example.com"}, Components: cs}
}

func TestContourRenderServiceTypeAndReplicas(t *testing.T) {
	r := renderComponent(t, "contour", stack(config.Components{Contour: &config.Contour{Replicas: 3, ServiceType: "NodePort"}}))
	if got := dig(r.one(t, "Deployment", "-contour").Body, "spec", "replicas"); got != float64(3) {
		t.Errorf("contour Deployment replicas %v, want 3", got)
	}
	if got := dig(r.one(t, "Service", "-envoy").Body, "spec", "type"); got != "NodePort" {
		t.Errorf("envoy Service type %v, want NodePort", got)
	}
	if r.one(t, "IngressClass", helm.ContourIngressClass).Name != helm.ContourIngressClass {
		t.Errorf("no IngressClass %s (the ACME solver's)", helm.ContourIngressClass)
	}

	def := renderComponent(t, "contour", stack(config.Components{Contour: &config.Contour{}}))
	if got := dig(def.one(t, "Deployment", "-contour").Body, "spec", "replicas"); got != float64(1) {
		t.Errorf("default replicas %v, want 1", got)
	}
	if got := dig(def.one(t, "Service", "-envoy").Body, "spec", "type"); got != "LoadBalancer" {
		t.Errorf("default envoy Service type %v, want LoadBalancer", got)
	}
}

// TestCertManagerRenderCRDsServeTheIssuers: the chart installs its CRDs,
// and every issuer object Foundry applies afterwards is of a kind and
// version those CRDs serve, with spec fields their schemas know.
func TestCertManagerRenderCRDsServeTheIssuers(t *testing.T) {
	cm := &config.CertManager{Issuer: "letsencrypt", Email: "ops@example.com"}
	r := renderComponent(t, "cert-manager", stack(config.Components{CertManager: cm}))
	crds := map[string]helm.Object{}
	for _, o := range r.objs {
		if o.Kind == "CustomResourceDefinition" {
			crds[fmt.Sprint(dig(o.Body, "spec", "names", "kind"))] = o
		}
	}
	comp, _ := helm.Lookup("cert-manager")
	objs, err := helm.PostInstall(comp, stack(config.Components{CertManager: cm}))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 {
		t.Fatalf("%d post-install objects, want self-signed issuer, CA certificate, CA issuer and ACME issuer", len(objs))
	}
	for _, o := range objs {
		crd, ok := crds[o.GetKind()]
		if !ok {
			t.Errorf("%s: the chart rendered no CRD for kind %s", o.GetName(), o.GetKind())
			continue
		}
		group, version, _ := strings.Cut(o.GetAPIVersion(), "/")
		if dig(crd.Body, "spec", "group") != group {
			t.Errorf("%s: CRD group %v, want %s", o.GetKind(), dig(crd.Body, "spec", "group"), group)
		}
		var schema map[string]any
		for _, v := range asList(dig(crd.Body, "spec", "versions")) {
			if dig(v, "name") == version && dig(v, "served") == true {
				schema, _ = dig(v, "schema", "openAPIV3Schema", "properties", "spec", "properties").(map[string]any)
			}
		}
		if schema == nil {
			t.Errorf("%s: version %s not served", o.GetKind(), version)
			continue
		}
		for k := range o.Object["spec"].(map[string]any) {
			if _, ok := schema[k]; !ok {
				t.Errorf("%s/%s: spec.%s is not in the CRD's schema", o.GetKind(), o.GetName(), k)
			}
		}
		if (dig(crd.Body, "spec", "scope") == "Namespaced") != (o.GetNamespace() != "") {
			t.Errorf("%s/%s: namespace %q does not fit scope %v", o.GetKind(), o.GetName(), o.GetNamespace(), dig(crd.Body, "spec", "scope"))
		}
	}
}

func TestExternalDNSRenderProviderDomainsAndCredentialSecret(t *testing.T) {
	r := renderComponent(t, "external-dns", stack(config.Components{ExternalDNS: &config.ExternalDNS{
		Provider: "cloudflare", DomainFilters: []string{"a.example.com", "b.example.com"}, Credentials: "${secret:foundry/dns:token}"}}))
	dep := r.one(t, "Deployment", "external-dns")
	c := container(t, dep, "external-dns")
	for _, want := range []string{"--provider=cloudflare", "--domain-filter=a.example.com", "--domain-filter=b.example.com", "--txt-owner-id=prod"} {
		if !strings.Contains(args(c), want) {
			t.Errorf("args %q lack %s", args(c), want)
		}
	}
	sec := r.one(t, "Secret", "external-dns")
	if got := secretData(t, sec, "credentials"); got != "s3cr3t-foundry-dns:token" {
		t.Errorf("credentials Secret holds %q", got)
	}
	var token map[string]any
	for _, e := range asList(c["env"]) {
		if dig(e, "name") == "CF_API_TOKEN" {
			token = e.(map[string]any)
		}
	}
	if dig(token, "valueFrom", "secretKeyRef", "name") != sec.Name || dig(token, "value") != nil {
		t.Errorf("CF_API_TOKEN %v, want a secretKeyRef to Secret %s and no plain value", token, sec.Name)
	}
	if strings.Contains(r.text, "s3cr3t-foundry-dns:token") {
		t.Error("the token appears in plain text in the manifest, outside a Secret's base64 data")
	}
}

func TestPrometheusRenderRetentionAndStorage(t *testing.T) {
	r := renderComponent(t, "prometheus", stack(config.Components{Prometheus: &config.Prometheus{Retention: "30d", Storage: &config.VolumeStorage{Size: "50Gi"}}}))
	c := container(t, r.one(t, "Deployment", "prometheus-server"), "prometheus-server")
	if !strings.Contains(args(c), "--storage.tsdb.retention.time=30d") {
		t.Errorf("server args %q lack the retention", args(c))
	}
	if got := dig(r.one(t, "PersistentVolumeClaim", "prometheus-server").Body, "spec", "resources", "requests", "storage"); got != "50Gi" {
		t.Errorf("server volume %v, want 50Gi", got)
	}
}

func TestLokiRenderSingleBinaryFilesystemRetention(t *testing.T) {
	for _, tc := range []struct {
		loki *config.Loki
		want string
		size string
	}{{&config.Loki{Retention: "90d", Storage: &config.VolumeStorage{Size: "200Gi"}}, "retention_period: 90d", "200Gi"}, {&config.Loki{}, "retention_period: 744h", "10Gi"}} {
		r := renderComponent(t, "loki", stack(config.Components{Loki: tc.loki}))
		sts := r.one(t, "StatefulSet", "loki")
		if dig(sts.Body, "spec", "replicas") != float64(1) {
			t.Errorf("loki StatefulSet replicas %v, want 1", dig(sts.Body, "spec", "replicas"))
		}
		if got := dig(sts.Body, "spec", "volumeClaimTemplates", "0", "spec", "resources", "requests", "storage"); got != tc.size {
			t.Errorf("loki volume %v, want %s", got, tc.size)
		}
		for _, o := range r.objs {
			if (o.Kind == "StatefulSet" || o.Kind == "Deployment") && (strings.Contains(o.Name, "-read") || strings.Contains(o.Name, "-write") || strings.Contains(o.Name, "-backend")) {
				t.Errorf("distributed-mode workload %s rendered in single-binary mode", o.ID())
			}
		}
		cfg := r.one(t, "ConfigMap", "loki")
		conf := fmt.Sprint(dig(cfg.Body, "data", "config.yaml"))
		for _, want := range []string{tc.want, "retention_enabled: true", "filesystem:", "replication_factor: 1"} {
			if !strings.Contains(conf, want) {
				t.Errorf("loki config.yaml lacks %q", want)
			}
		}
	}
}

// TestGrafanaRenderPasswordDataSourcesDashboards: the admin password is
// the chart's Secret; the data sources point at the Services the
// prometheus and loki releases actually render; the embedded dashboards
// are a ConfigMap the Deployment mounts where the provider reads.
func TestGrafanaRenderPasswordDataSourcesDashboards(t *testing.T) {
	cfg := stack(config.Components{Prometheus: &config.Prometheus{}, Loki: &config.Loki{},
		Grafana: &config.Grafana{AdminPassword: "${secret:foundry/grafana:admin_password}"}})
	r := renderComponent(t, "grafana", cfg)
	if got := secretData(t, r.one(t, "Secret", "grafana"), "admin-password"); got != "s3cr3t-foundry-grafana:admin_password" {
		t.Errorf("admin-password %q", got)
	}
	ds := fmt.Sprint(dig(r.one(t, "ConfigMap", "grafana").Body, "data", "datasources.yaml"))
	// The URLs must be Services the other releases render.
	for _, store := range []struct{ comp, svc, port, url string }{
		{"prometheus", "prometheus-server", "80", "url: http://prometheus-server.monitoring.svc\n"},
		{"loki", "loki", "3100", "url: http://loki.loki.svc:3100\n"},
	} {
		if !strings.Contains(ds, store.url) {
			t.Errorf("datasources.yaml lacks %q:\n%s", store.url, ds)
		}
		other := renderComponent(t, store.comp, cfg)
		svc := other.one(t, "Service", store.svc)
		comp, _ := helm.Lookup(store.comp)
		if svc.Name != store.svc || svc.Namespace != comp.Namespace || fmt.Sprint(dig(svc.Body, "spec", "ports", "0", "port")) != store.port {
			t.Errorf("%s renders Service %s port %v, not what Grafana's data source calls", store.comp, svc.ID(), dig(svc.Body, "spec", "ports", "0", "port"))
		}
	}
	for _, want := range []string{"uid: prometheus", "uid: loki", "type: prometheus", "type: loki"} {
		if !strings.Contains(ds, want) {
			t.Errorf("datasources.yaml lacks %q", want)
		}
	}

	cm := r.one(t, "ConfigMap", "grafana-dashboards-"+helm.GrafanaDashboardProvider)
	data, _ := cm.Body["data"].(map[string]any)
	all, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		var doc map[string]any
		if err := json.Unmarshal([]byte(fmt.Sprint(data[d.Name+".json"])), &doc); err != nil || doc["uid"] != "foundry-"+d.Name {
			t.Errorf("dashboard %s in the ConfigMap: %v (uid %v)", d.Name, err, doc["uid"])
		}
	}
	dep := r.one(t, "Deployment", "grafana")
	mounted := false
	for _, m := range asList(container(t, dep, "grafana")["volumeMounts"]) {
		if strings.HasPrefix(fmt.Sprint(dig(m, "mountPath")), "/var/lib/grafana/dashboards/"+helm.GrafanaDashboardProvider+"/") {
			mounted = true
		}
	}
	if !mounted {
		t.Error("the dashboards are not mounted where the provider reads them")
	}
	if !strings.Contains(fmt.Sprint(dig(r.one(t, "ConfigMap", "grafana").Body, "data", "dashboardproviders.yaml")), "path: /var/lib/grafana/dashboards/"+helm.GrafanaDashboardProvider) {
		t.Error("no dashboard provider for the foundry folder")
	}

	// Without Loki: no Loki data source and no dashboard that needs it.
	noLoki := renderComponent(t, "grafana", stack(config.Components{Prometheus: &config.Prometheus{}, Grafana: &config.Grafana{}}))
	if strings.Contains(fmt.Sprint(dig(noLoki.one(t, "ConfigMap", "grafana").Body, "data", "datasources.yaml")), "type: loki") {
		t.Error("loki data source without loki")
	}
	if _, ok := dig(noLoki.one(t, "ConfigMap", "grafana-dashboards-"+helm.GrafanaDashboardProvider).Body, "data").(map[string]any)["logs.json"]; ok {
		t.Error("the logs dashboard is provisioned without loki")
	}
}

func TestVeleroRenderBackendBucketScheduleCredentials(t *testing.T) {
	onMinIO := renderComponent(t, "velero", stack(config.Components{MinIO: &config.MinIO{Deploy: "auto"}, Velero: &config.Velero{Schedule: "0 2 * * *"}}))
	bsl := onMinIO.one(t, "BackupStorageLocation", "default")
	if dig(bsl.Body, "spec", "provider") != "aws" || dig(bsl.Body, "spec", "objectStorage", "bucket") != "velero" ||
		dig(bsl.Body, "spec", "config", "s3Url") != "http://minio.minio.svc:9000" {
		t.Errorf("MinIO location: %v", bsl.Body["spec"])
	}
	if got := dig(onMinIO.one(t, "Schedule", "daily").Body, "spec", "schedule"); got != "0 2 * * *" {
		t.Errorf("schedule %v", got)
	}
	cloud := secretData(t, onMinIO.one(t, "Secret", "velero"), "cloud")
	if !strings.Contains(cloud, "aws_access_key_id=s3cr3t-foundry-minio:root_user") || !strings.Contains(cloud, "aws_secret_access_key=s3cr3t-foundry-minio:root_password") {
		t.Errorf("MinIO credentials file %q", cloud)
	}

	truenas := stack(config.Components{Velero: &config.Velero{Bucket: "backups", Credentials: "${secret:foundry/velero:cloud}"}})
	truenas.Storage = &config.Storage{TrueNAS: &config.TrueNAS{APIURL: "https://nas.example.com", S3Endpoint: "https://nas.example.com:9000"}}
	onNAS := renderComponent(t, "velero", truenas)
	bsl = onNAS.one(t, "BackupStorageLocation", "default")
	if dig(bsl.Body, "spec", "objectStorage", "bucket") != "backups" || dig(bsl.Body, "spec", "config", "s3Url") != "https://nas.example.com:9000" {
		t.Errorf("TrueNAS location: %v", bsl.Body["spec"])
	}
	if got := secretData(t, onNAS.one(t, "Secret", "velero"), "cloud"); got != "s3cr3t-foundry-velero:cloud" {
		t.Errorf("TrueNAS credentials %q", got)
	}
	if onNAS.count("Schedule") != 0 {
		t.Error("a Schedule without a configured schedule")
	}
}

func TestMinIORenderStandaloneWithRootSecret(t *testing.T) {
	r := renderComponent(t, "minio", stack(config.Components{MinIO: &config.MinIO{Deploy: "auto", Storage: &config.VolumeStorage{Size: "1Ti"}}}))
	if r.count("StatefulSet") != 0 || dig(r.one(t, "Deployment", "minio").Body, "spec", "replicas") != float64(1) {
		t.Error("minio is not one standalone Deployment")
	}
	sec := r.one(t, "Secret", "minio")
	if secretData(t, sec, "rootPassword") != "s3cr3t-foundry-minio:root_password" || secretData(t, sec, "rootUser") != "s3cr3t-foundry-minio:root_user" {
		t.Error("root credentials are not the resolved references")
	}
	if got := dig(r.one(t, "PersistentVolumeClaim", "minio").Body, "spec", "resources", "requests", "storage"); got != "1Ti" {
		t.Errorf("volume %v, want 1Ti", got)
	}
}

// TestArgoCDRenderRegistryCredentials: the stack's registry is a
// repository-credentials Secret Argo CD recognises by its label, with
// the credentials resolved from their references; a registry without
// auth gets the template without credentials.
func TestArgoCDRenderRegistryCredentials(t *testing.T) {
	cfg := stack(config.Components{Zot: &config.Zot{Hosts: []string{"reg1"}, Auth: "htpasswd"}, ArgoCD: &config.ArgoCD{}})
	cfg.Cluster.Nodes = []config.Node{{Hostname: "reg1", Address: "10.77.0.5", Role: config.RoleControlPlane}}
	r := renderComponent(t, "argocd", cfg)
	sec := r.one(t, "Secret", "argocd-repo-creds-"+helm.ArgoCDRegistryCreds)
	if dig(sec.Body, "metadata", "labels", "argocd.argoproj.io/secret-type") != "repo-creds" {
		t.Errorf("labels %v, want argocd.argoproj.io/secret-type: repo-creds", dig(sec.Body, "metadata", "labels"))
	}
	for key, want := range map[string]string{
		"url": "oci://10.77.0.5:5000", "type": "oci", "insecureOCIForceHttp": "true",
		"username": "s3cr3t-foundry-zot:username", "password": "s3cr3t-foundry-zot:password",
	} {
		if got := secretData(t, sec, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}

	cfg.Components.Zot.Auth = "none"
	open := renderComponent(t, "argocd", cfg).one(t, "Secret", "argocd-repo-creds-"+helm.ArgoCDRegistryCreds)
	if _, ok := dig(open.Body, "data").(map[string]any)["password"]; ok {
		t.Error("credentials for a registry without auth")
	}
}

// TestExternalDNSRenderCredentialWiringPerProvider: each provider is
// pointed at the credentials Secret its own way, and the secret is in
// no argument or plain environment value.
func TestExternalDNSRenderCredentialWiringPerProvider(t *testing.T) {
	for _, tc := range []struct {
		provider, wantProvider, env, fileEnv, arg string
	}{
		{provider: "route53", wantProvider: "aws", fileEnv: "AWS_SHARED_CREDENTIALS_FILE"},
		{provider: "google", wantProvider: "google", fileEnv: "GOOGLE_APPLICATION_CREDENTIALS"},
		{provider: "azure", wantProvider: "azure", arg: "--azure-config-file=/etc/external-dns/credentials"},
		{provider: "digitalocean", wantProvider: "digitalocean", env: "DO_TOKEN"},
		{provider: "rfc2136", wantProvider: "rfc2136", env: "EXTERNAL_DNS_RFC2136_TSIG_SECRET"},
	} {
		r := renderComponent(t, "external-dns", stack(config.Components{ExternalDNS: &config.ExternalDNS{Provider: tc.provider, Credentials: "${secret:foundry/dns:credentials}"}}))
		c := container(t, r.one(t, "Deployment", "external-dns"), "external-dns")
		if !strings.Contains(args(c), "--provider="+tc.wantProvider) {
			t.Errorf("%s: args %q", tc.provider, args(c))
		}
		if tc.arg != "" && !strings.Contains(args(c), tc.arg) {
			t.Errorf("%s: args %q lack %s", tc.provider, args(c), tc.arg)
		}
		env := map[string]any{}
		for _, e := range asList(c["env"]) {
			env[fmt.Sprint(dig(e, "name"))] = e
		}
		if tc.env != "" && dig(env[tc.env], "valueFrom", "secretKeyRef", "name") != r.one(t, "Secret", "external-dns").Name {
			t.Errorf("%s: %s is %v, want a secretKeyRef to the credentials Secret", tc.provider, tc.env, env[tc.env])
		}
		if tc.fileEnv != "" && dig(env[tc.fileEnv], "value") != "/etc/external-dns/credentials" {
			t.Errorf("%s: %s is %v", tc.provider, tc.fileEnv, env[tc.fileEnv])
		}
		mounted := false
		for _, m := range asList(c["volumeMounts"]) {
			mounted = mounted || dig(m, "mountPath") == "/etc/external-dns"
		}
		if !mounted {
			t.Errorf("%s: the credentials Secret is not mounted at /etc/external-dns", tc.provider)
		}
		if l := leaks(args(c)); len(l) > 0 {
			t.Errorf("%s: secret in the arguments: %v", tc.provider, l)
		}
	}
}
