package config

// SchemaVersion is the only config format version this Foundry reads.
const SchemaVersion = "1.0"

// Node roles.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

// Config is one stack's desired state, as written in ~/.foundry/<name>.yaml.
type Config struct {
	Version       string         `yaml:"version"`
	Cluster       Cluster        `yaml:"cluster"`
	Components    Components     `yaml:"components,omitempty"`
	Observability *Observability `yaml:"observability,omitempty"`
	Storage       *Storage       `yaml:"storage,omitempty"`
	Foundry       *Foundry       `yaml:"foundry,omitempty"`
}

// Cluster names the stack and lists its hosts.
type Cluster struct {
	Name   string `yaml:"name"`
	Domain string `yaml:"domain"`
	Nodes  []Node `yaml:"nodes"`
}

// Node is one host. Address is optional when the hostname resolves.
type Node struct {
	Hostname string            `yaml:"hostname"`
	Address  string            `yaml:"address,omitempty"`
	Role     string            `yaml:"role"`
	Labels   map[string]string `yaml:"labels,omitempty"`
	// Taints go on the host's Kubernetes node, as key=value:Effect.
	Taints []string `yaml:"taints,omitempty"`
}

// Components holds one typed entry per known component; a nil entry is not
// configured. An entry with no settings ("argocd:" or "argocd: {}") is
// configured with defaults.
type Components struct {
	OpenBAO     *OpenBAO     `yaml:"openbao,omitempty"`
	K3s         *K3s         `yaml:"k3s,omitempty"`
	Zot         *Zot         `yaml:"zot,omitempty"`
	Prometheus  *Prometheus  `yaml:"prometheus,omitempty"`
	Loki        *Loki        `yaml:"loki,omitempty"`
	Grafana     *Grafana     `yaml:"grafana,omitempty"`
	Contour     *Contour     `yaml:"contour,omitempty"`
	CertManager *CertManager `yaml:"cert-manager,omitempty"`
	ExternalDNS *ExternalDNS `yaml:"external-dns,omitempty"`
	MinIO       *MinIO       `yaml:"minio,omitempty"`
	Velero      *Velero      `yaml:"velero,omitempty"`
	ArgoCD      *ArgoCD      `yaml:"argocd,omitempty"`
}

// OpenBAO runs on dedicated hosts, outside Kubernetes, because everything
// else needs its secrets first.
type OpenBAO struct {
	Version string   `yaml:"version,omitempty"`
	Hosts   []string `yaml:"hosts,omitempty"`
	Storage string   `yaml:"storage,omitempty"` // raft (default), file, postgresql, consul
}

// K3s is the Kubernetes distribution. HA runs several control planes
// behind VIP.
type K3s struct {
	Version string   `yaml:"version,omitempty"`
	HA      bool     `yaml:"ha,omitempty"`
	VIP     string   `yaml:"vip,omitempty"`
	Disable []string `yaml:"disable,omitempty"`
	// TLSSANs are extra names and addresses the API certificate covers
	// (the servers' own addresses and the VIP are always in it).
	TLSSANs     []string `yaml:"tls-san,omitempty"`
	ClusterCIDR string   `yaml:"cluster-cidr,omitempty"`
	ServiceCIDR string   `yaml:"service-cidr,omitempty"`
}

// Registry flavours for the OCI registry component.
const (
	FlavorZot          = "zot"
	FlavorDistribution = "distribution"
)

// Zot is the OCI registry. Flavor picks the implementation: zot (the
// default) or the CNCF distribution registry.
type Zot struct {
	Version string `yaml:"version,omitempty"`
	Flavor  string `yaml:"flavor,omitempty"`
	// Hosts run the registry as a native service installed by their
	// agents (until the in-cluster flavour exists).
	Hosts   []string    `yaml:"hosts,omitempty"`
	Storage *ZotStorage `yaml:"storage,omitempty"`
	Auth    string      `yaml:"auth,omitempty"` // openbao (OIDC), htpasswd, none
}

// ZotStorage says where images live.
type ZotStorage struct {
	Backend string `yaml:"backend,omitempty"` // truenas or local
	Path    string `yaml:"path,omitempty"`
	Size    string `yaml:"size,omitempty"`
}

// VolumeStorage sizes a component's persistent volume.
type VolumeStorage struct {
	Size    string `yaml:"size,omitempty"`
	Backend string `yaml:"backend,omitempty"` // truenas or local
}

// Prometheus keeps metrics for Retention (e.g. 30d).
type Prometheus struct {
	Version   string         `yaml:"version,omitempty"`
	Retention string         `yaml:"retention,omitempty"`
	Storage   *VolumeStorage `yaml:"storage,omitempty"`
}

// Loki keeps logs for Retention (e.g. 90d).
type Loki struct {
	Version   string         `yaml:"version,omitempty"`
	Retention string         `yaml:"retention,omitempty"`
	Storage   *VolumeStorage `yaml:"storage,omitempty"`
}

// Grafana's admin password must be a secret reference.
type Grafana struct {
	Version       string   `yaml:"version,omitempty"`
	AdminPassword string   `yaml:"admin_password,omitempty"`
	Plugins       []string `yaml:"plugins,omitempty"`
}

// Contour is the ingress controller.
type Contour struct {
	Version     string `yaml:"version,omitempty"`
	Replicas    int    `yaml:"replicas,omitempty"`
	ServiceType string `yaml:"service_type,omitempty"` // LoadBalancer or NodePort
}

// CertManager issues TLS certificates.
type CertManager struct {
	Version string `yaml:"version,omitempty"`
	Email   string `yaml:"email,omitempty"`  // ACME account
	Issuer  string `yaml:"issuer,omitempty"` // letsencrypt, letsencrypt-staging, acme, selfsigned, none (the site brings its own)
	// ACMEServer is the directory URL of issuer acme: a private ACME CA
	// (step-ca, for one) for a site Let's Encrypt cannot reach.
	ACMEServer string `yaml:"acme_server,omitempty"`
}

// ExternalDNS keeps DNS records in step with ingresses.
type ExternalDNS struct {
	Version       string   `yaml:"version,omitempty"`
	Provider      string   `yaml:"provider,omitempty"`
	DomainFilters []string `yaml:"domain_filters,omitempty"`
	Credentials   string   `yaml:"credentials,omitempty"` // a secret reference
}

// MinIO provides S3 storage when TrueNAS does not. Deploy is auto (deploy
// only if TrueNAS S3 is unavailable), true or false.
type MinIO struct {
	Version string         `yaml:"version,omitempty"`
	Deploy  string         `yaml:"deploy,omitempty"`
	Storage *VolumeStorage `yaml:"storage,omitempty"`
	// RootUser and RootPassword are secret references; Velero's MinIO
	// backend logs in with them. Empty: foundry/minio:root_user and
	// foundry/minio:root_password.
	RootUser     string `yaml:"root_user,omitempty"`
	RootPassword string `yaml:"root_password,omitempty"`
}

// Velero backs the cluster up to MinIO or TrueNAS S3.
type Velero struct {
	Version  string `yaml:"version,omitempty"`
	Backend  string `yaml:"backend,omitempty"`  // minio or truenas; empty: whichever is configured
	Schedule string `yaml:"schedule,omitempty"` // cron expression
	// Bucket is the S3 bucket backups go to (velero by default).
	Bucket string `yaml:"bucket,omitempty"`
	// Credentials is a secret reference to an AWS-style credentials file
	// ("[default]\naws_access_key_id=...") for the bucket.
	Credentials string `yaml:"credentials,omitempty"`
}

// ArgoCD is optional GitOps delivery.
type ArgoCD struct {
	Version string `yaml:"version,omitempty"`
	HA      bool   `yaml:"ha,omitempty"`
}

// Observability is the seed's place for Prometheus and Loki settings;
// naming one here configures that component just as listing it under
// components does. A setting may be given in one place only.
type Observability struct {
	Prometheus *ObservabilitySettings `yaml:"prometheus,omitempty"`
	Loki       *ObservabilitySettings `yaml:"loki,omitempty"`
}

// ObservabilitySettings are the retention and volume of one store.
type ObservabilitySettings struct {
	Retention string         `yaml:"retention,omitempty"`
	Storage   *VolumeStorage `yaml:"storage,omitempty"`
}

// Storage lists external storage backends Foundry uses but does not
// install.
type Storage struct {
	TrueNAS *TrueNAS `yaml:"truenas,omitempty"`
}

// TrueNAS is reached through its API; APIKey must be a secret reference.
type TrueNAS struct {
	APIURL string `yaml:"api_url,omitempty"`
	APIKey string `yaml:"api_key,omitempty"`
	// S3Endpoint is TrueNAS's S3 service (http(s)://host:port); when set,
	// MinIO with deploy: auto is not installed and Velero can use it.
	S3Endpoint string `yaml:"s3_endpoint,omitempty"`
	// CAFile verifies TrueNAS's certificate (its own self-signed one, or
	// a private CA's); empty uses the system's roots. Verification is
	// never turned off.
	CAFile string `yaml:"ca_file,omitempty"`
	// Dataset is the parent dataset Foundry creates its datasets under
	// (pool/name); empty means the first pool.
	Dataset string `yaml:"dataset,omitempty"`
}

// Foundry configures Foundry itself: how the CLI reaches its controller
// and OpenBAO, and where host SSH keys are kept.
type Foundry struct {
	Controller *ControllerConfig `yaml:"controller,omitempty"`
	// SSHKeys is "openbao" or "file"; see EffectiveSSHKeys for the default.
	SSHKeys string          `yaml:"ssh_keys,omitempty"`
	OpenBAO *FoundryOpenBAO `yaml:"openbao,omitempty"`
}

// ControllerConfig lists the controller's NATS URLs (several for a
// clustered controller) and the CA that signs its certificate.
type ControllerConfig struct {
	URLs   []string `yaml:"urls,omitempty"`
	CAFile string   `yaml:"ca_file,omitempty"`
}

// FoundryOpenBAO is where the CLI finds OpenBAO and which KV v2 mount it
// uses (secret by default).
type FoundryOpenBAO struct {
	Address string `yaml:"address,omitempty"`
	Mount   string `yaml:"mount,omitempty"`
}
