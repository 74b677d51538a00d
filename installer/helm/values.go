package helm

import (
	"fmt"
	"strings"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// Values are a release's chart values. They may hold ${secret:...}
// references, resolved only by Resolve at install time; until then they
// are safe to print.
type Values = map[string]any

// In-cluster addresses the components find each other at; they follow
// from the release names and namespaces in Components.
const (
	prometheusURL = "http://prometheus-server.monitoring.svc"
	lokiURL       = "http://loki.loki.svc:3100"
	minioURL      = "http://minio.minio.svc:9000"
)

// VeleroAWSPlugin is the object-store plugin Velero needs for any S3
// backend (MinIO and TrueNAS both speak S3); Velero 1.18 pairs with the
// aws plugin 1.14.
const VeleroAWSPlugin = "docker.io/velero/velero-plugin-for-aws:v1.14.0"

// ValuesFor builds the values of component name from the stack config.
func ValuesFor(name string, c *config.Config) (Values, error) {
	if err := checkSecretRefs(name, c); err != nil {
		return nil, err
	}
	cs := c.Components
	switch name {
	case "contour":
		return ContourValues(deref(cs.Contour)), nil
	case "cert-manager":
		return CertManagerValues(deref(cs.CertManager)), nil
	case "external-dns":
		return ExternalDNSValues(deref(cs.ExternalDNS), c.Cluster.Name)
	case "prometheus":
		return PrometheusValues(observed(cs.Prometheus, c.Observability, true)), nil
	case "loki":
		return LokiValues(observed(cs.Loki, c.Observability, false)), nil
	case "grafana":
		conf := c.Configured()
		return GrafanaValues(deref(cs.Grafana), conf["prometheus"], conf["loki"]), nil
	case "minio":
		return MinIOValues(deref(cs.MinIO)), nil
	case "velero":
		return VeleroValues(deref(cs.Velero), deref(cs.MinIO), c.Storage, c.MinIOWanted())
	case "argocd":
		return ArgoCDValues(deref(cs.ArgoCD), RegistryOf(c)), nil
	}
	_, err := Lookup(name)
	return nil, err
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// observed merges a store's settings from components and observability
// (the validator allows each setting in one place only).
func observed[T config.Prometheus | config.Loki](comp *T, o *config.Observability, prom bool) config.ObservabilitySettings {
	var out config.ObservabilitySettings
	switch v := any(comp).(type) {
	case *config.Prometheus:
		if v != nil {
			out = config.ObservabilitySettings{Retention: v.Retention, Storage: v.Storage}
		}
	case *config.Loki:
		if v != nil {
			out = config.ObservabilitySettings{Retention: v.Retention, Storage: v.Storage}
		}
	}
	if o == nil {
		return out
	}
	s := o.Loki
	if prom {
		s = o.Prometheus
	}
	if s != nil {
		if out.Retention == "" {
			out.Retention = s.Retention
		}
		if out.Storage == nil {
			out.Storage = s.Storage
		}
	}
	return out
}

// ContourValues: the contour controller's replicas and Envoy's service.
func ContourValues(c config.Contour) Values {
	replicas, svc := 1, "LoadBalancer"
	if c.Replicas > 0 {
		replicas = c.Replicas
	}
	if c.ServiceType != "" {
		svc = c.ServiceType
	}
	return Values{
		"contour": Values{"replicaCount": replicas},
		"envoy":   Values{"service": Values{"type": svc}},
	}
}

// CertManagerValues installs the CRDs with the chart, so issuers can be
// created as soon as the release is ready.
func CertManagerValues(config.CertManager) Values {
	return Values{"crds": Values{"enabled": true}}
}

// ExternalDNSValues: provider, domains, and credentials. The credentials
// reference becomes the chart's own Secret, mounted at
// /etc/external-dns/credentials; the providers whose SDKs read an
// environment variable get it pointed there.
func ExternalDNSValues(c config.ExternalDNS, owner string) (Values, error) {
	if c.Provider == "" {
		return nil, fmt.Errorf("external-dns has no provider; set components.external-dns.provider (such as cloudflare, aws or rfc2136)")
	}
	provider := externalDNSProvider(c.Provider)
	v := Values{
		"provider":      Values{"name": provider},
		"domainFilters": stringsAny(c.DomainFilters),
		"policy":        "upsert-only",
	}
	if owner != "" {
		v["txtOwnerId"] = owner
	}
	if c.Credentials != "" {
		if err := mustRef("components.external-dns.credentials", c.Credentials); err != nil {
			return nil, err
		}
		v["secretConfiguration"] = Values{
			"enabled":   true,
			"mountPath": externalDNSCredsDir,
			"data":      Values{"credentials": c.Credentials},
		}
		env, args := externalDNSCredentials(provider)
		if env != nil {
			v["env"] = env
		}
		if args != nil {
			v["extraArgs"] = args
		}
	}
	return v, nil
}

// PrometheusValues: retention and the server's volume.
func PrometheusValues(s config.ObservabilitySettings) Values {
	server := Values{"retention": or(s.Retention, "15d")}
	if s.Storage != nil && s.Storage.Size != "" {
		server["persistentVolume"] = Values{"size": s.Storage.Size}
	}
	return Values{"server": server}
}

// LokiValues runs Loki as one binary on its filesystem (the chart's
// monolithic-filesystem example), with retention by the compactor.
func LokiValues(s config.ObservabilitySettings) Values {
	loki := Values{
		"commonConfig":  Values{"replication_factor": 1},
		"storage":       Values{"type": "filesystem"},
		"useTestSchema": true,
		"limits_config": Values{"retention_period": or(s.Retention, "744h")},
		"compactor": Values{
			"retention_enabled":    true,
			"delete_request_store": "filesystem",
		},
	}
	single := Values{"replicas": 1}
	if s.Storage != nil && s.Storage.Size != "" {
		single["persistence"] = Values{"size": s.Storage.Size}
	}
	return Values{
		"loki":           loki,
		"deploymentMode": "SingleBinary",
		"singleBinary":   single,
		"read":           Values{"replicas": 0},
		"write":          Values{"replicas": 0},
		"backend":        Values{"replicas": 0},
	}
}

// MinIOValues: one standalone server (the chart's default is a 16-node
// distributed cluster asking 16Gi each), root credentials from references,
// and Velero's bucket.
func MinIOValues(c config.MinIO) Values {
	size := "100Gi"
	if c.Storage != nil && c.Storage.Size != "" {
		size = c.Storage.Size
	}
	return Values{
		"mode":         "standalone",
		"replicas":     1,
		"rootUser":     or(c.RootUser, minioRef("root_user")),
		"rootPassword": or(c.RootPassword, minioRef("root_password")),
		"persistence":  Values{"size": size},
		"resources":    Values{"requests": Values{"memory": "1Gi"}},
		"buckets":      []any{Values{"name": "velero", "policy": "none", "purge": false}},
	}
}

func minioRef(key string) string {
	return secrets.Ref{Path: secrets.CoreNamespace + "/minio", Key: key}.String()
}

// VeleroValues: one S3 backup location on MinIO (in the cluster) or
// TrueNAS, its credentials, and the backup schedule.
func VeleroValues(c config.Velero, m config.MinIO, st *config.Storage, minioWanted bool) (Values, error) {
	backend := c.Backend
	if backend == "" {
		backend = "minio"
		if !minioWanted && st != nil && st.TrueNAS != nil && st.TrueNAS.S3Endpoint != "" {
			backend = "truenas"
		}
	}
	var url, creds string
	switch backend {
	case "minio":
		if !minioWanted {
			return nil, fmt.Errorf("velero backend minio needs MinIO in the cluster, which this config does not deploy (TrueNAS S3 is configured, deploy: false, or minio is missing); use backend: truenas, or set components.minio.deploy: true")
		}
		url = minioURL
		creds = "[default]\naws_access_key_id=" + or(m.RootUser, minioRef("root_user")) +
			"\naws_secret_access_key=" + or(m.RootPassword, minioRef("root_password")) + "\n"
	case "truenas":
		if st == nil || st.TrueNAS == nil || st.TrueNAS.S3Endpoint == "" {
			return nil, fmt.Errorf("velero backend truenas needs storage.truenas.s3_endpoint; set it, or use backend: minio")
		}
		url = st.TrueNAS.S3Endpoint
	default:
		return nil, fmt.Errorf("velero backend %q is not supported; use minio or truenas", backend)
	}
	if c.Credentials != "" {
		if err := mustRef("components.velero.credentials", c.Credentials); err != nil {
			return nil, err
		}
		creds = c.Credentials
	}
	if creds == "" {
		return nil, fmt.Errorf("velero on truenas needs credentials; set components.velero.credentials to a secret reference holding an AWS credentials file")
	}
	v := Values{
		"configuration": Values{
			"backupStorageLocation": []any{Values{
				"name": "default", "provider": "aws", "bucket": or(c.Bucket, "velero"), "default": true,
				"config": Values{"region": "minio", "s3ForcePathStyle": "true", "s3Url": url},
			}},
			"volumeSnapshotLocation": []any{Values{"name": "default", "provider": "aws", "config": Values{"region": "minio"}}},
		},
		"snapshotsEnabled": false,
		"credentials":      Values{"useSecret": true, "secretContents": Values{"cloud": creds}},
		"initContainers": []any{Values{
			"name": "velero-plugin-for-aws", "image": VeleroAWSPlugin, "imagePullPolicy": "IfNotPresent",
			"volumeMounts": []any{Values{"mountPath": "/target", "name": "plugins"}},
		}},
	}
	if c.Schedule != "" {
		v["schedules"] = Values{"daily": Values{"schedule": c.Schedule, "template": Values{"ttl": "720h"}}}
	}
	return v, nil
}

func or(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func stringsAny(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}
