package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// ErrExists means `config init` would overwrite a file; --force allows it.
var ErrExists = errors.New("config file already exists")

// HostSpec is one host given to Init.
type HostSpec struct {
	Hostname string
	Address  string // optional
	Role     string // optional: the first host defaults to control-plane, others to worker
}

// InitOptions is what `config init` (flags or wizard) collects.
type InitOptions struct {
	Name   string
	Domain string
	Hosts  []HostSpec
	// Components to enable; empty means DefaultComponents. Missing
	// dependencies are added.
	Components []string
	// OpenBAOAddress overrides the derived https://<openbao host>:8200.
	OpenBAOAddress string
	// DNSProvider is required when external-dns is enabled.
	DNSProvider string
}

// InitResult says what Init wrote and which components it added to meet
// dependencies, so the CLI can tell the user.
type InitResult struct {
	Path  string
	Added []string
}

// DefaultComponents is the stack `config init` proposes: OpenBAO, K3s,
// the registry, ingress and TLS, and observability.
func DefaultComponents() []string {
	return []string{"openbao", "k3s", "zot", "contour", "cert-manager", "prometheus", "loki", "grafana"}
}

// Init writes a new, valid config to path with mode 0600. It refuses to
// replace an existing file unless force is set.
func Init(path string, o InitOptions, force bool) (*InitResult, error) {
	data, added, err := Render(o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := writeConfig(path, data, force); err != nil {
		return nil, err
	}
	return &InitResult{Path: path, Added: added}, nil
}

func writeConfig(path string, data []byte, force bool) error {
	if !force {
		fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: refusing to overwrite %s; pass --force to replace it", ErrExists, path)
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		_, werr := fd.Write(data)
		cerr := fd.Close()
		if werr != nil || cerr != nil {
			os.Remove(path)
			return fmt.Errorf("write %s: %w", path, errors.Join(werr, cerr))
		}
		return os.Chmod(path, 0o600)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file next to %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

// Render builds the config text Init writes, and proves it valid by
// loading and validating it. It returns the components added to meet
// dependencies.
func Render(o InitOptions) ([]byte, []string, error) {
	if err := checkInit(&o); err != nil {
		return nil, nil, err
	}
	comps, added, err := withDependencies(o.Components, DefaultDependencies())
	if err != nil {
		return nil, nil, err
	}
	if comps["external-dns"] && o.DNSProvider == "" {
		return nil, nil, errors.New("external-dns needs a DNS provider; pass --dns-provider (e.g. cloudflare, route53, rfc2136) or leave external-dns out")
	}
	cfg := buildConfig(o, comps)
	var n yaml.Node
	if err := n.Encode(&cfg); err != nil {
		return nil, nil, fmt.Errorf("render config: %w", err)
	}
	n.HeadComment = "Foundry stack configuration (written by `foundry config init`).\n" +
		"Secrets are ${secret:path:key} references, never values: store them with\n" +
		"`foundry secret set <path> --key <key>`. Check the file with `foundry config validate`."
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, nil, fmt.Errorf("render config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, nil, fmt.Errorf("render config: %w", err)
	}
	f, err := Parse(o.Name+".yaml", buf.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("render config: %w", err)
	}
	if err := f.Validate().Err(); err != nil {
		return nil, nil, fmt.Errorf("the generated config is invalid (a bug in Foundry; please report it):\n%w", err)
	}
	return buf.Bytes(), added, nil
}

// checkInit validates the options with messages about the options (not
// about a generated file the user has not seen), and fills default roles.
func checkInit(o *InitOptions) error {
	var errs []error
	o.Name = strings.TrimSpace(o.Name)
	o.Domain = strings.ToLower(strings.TrimSpace(o.Domain))
	if r := checkDNSLabel(o.Name); r != "" {
		errs = append(errs, fmt.Errorf("cluster name %q %s; use a short lower-case name such as production", o.Name, r))
	}
	if r := checkDomain(o.Domain); r != "" {
		errs = append(errs, fmt.Errorf("domain %q %s; use a DNS domain such as example.com", o.Domain, r))
	}
	if len(o.Hosts) == 0 {
		errs = append(errs, errors.New("no hosts given; add at least one host (--host node1.example.com,control-plane)"))
	}
	seen := map[string]bool{}
	for i := range o.Hosts {
		h := &o.Hosts[i]
		h.Hostname, h.Address, h.Role = strings.TrimSpace(h.Hostname), strings.TrimSpace(h.Address), strings.TrimSpace(h.Role)
		if r := checkHostname(h.Hostname); r != "" {
			errs = append(errs, fmt.Errorf("host %q %s; use a host name such as node1.example.com", h.Hostname, r))
		}
		if seen[strings.ToLower(h.Hostname)] {
			errs = append(errs, fmt.Errorf("host %q is given twice; list each host once", h.Hostname))
		}
		seen[strings.ToLower(h.Hostname)] = true
		if h.Address != "" {
			if _, err := netip.ParseAddr(h.Address); err != nil {
				errs = append(errs, fmt.Errorf("address %q of host %s is not an IP address; use one such as 192.168.1.10", h.Address, h.Hostname))
			}
		}
		switch h.Role {
		case "":
			h.Role = RoleWorker
			if i == 0 {
				h.Role = RoleControlPlane
			}
		case RoleControlPlane, RoleWorker:
		default:
			errs = append(errs, fmt.Errorf("role %q of host %s is not a role; use control-plane or worker", h.Role, h.Hostname))
		}
	}
	known := map[string]bool{}
	for _, c := range KnownComponents() {
		known[c] = true
	}
	for _, c := range o.Components {
		if !known[c] {
			errs = append(errs, fmt.Errorf("unknown component %q; use one of: %s", c, strings.Join(KnownComponents(), ", ")))
		}
	}
	if o.OpenBAOAddress != "" && !strings.HasPrefix(o.OpenBAOAddress, "https://") && !strings.HasPrefix(o.OpenBAOAddress, "http://") {
		errs = append(errs, fmt.Errorf("OpenBAO address %q is not a URL; write it as https://openbao.example.com:8200", o.OpenBAOAddress))
	}
	return errors.Join(errs...)
}

// withDependencies returns the chosen components plus whatever they need
// (the first alternative of an unmet requirement, skipping storage.truenas,
// which init cannot configure), and the names it added.
func withDependencies(chosen []string, deps Dependencies) (map[string]bool, []string, error) {
	if cyc := deps.Cycle(); cyc != nil {
		return nil, nil, fmt.Errorf("the component dependency table has a cycle (%s); this is a bug in Foundry", strings.Join(cyc, " -> "))
	}
	if len(chosen) == 0 {
		chosen = DefaultComponents()
	}
	set := map[string]bool{}
	for _, c := range chosen {
		set[c] = true
	}
	var added []string
	for changed := true; changed; {
		changed = false
		for _, name := range KnownComponents() {
			if !set[name] {
				continue
			}
			for _, req := range deps.Unmet(name, set) {
				for _, alt := range req {
					if alt != ResourceTrueNAS {
						set[alt], changed = true, true
						added = append(added, alt)
						break
					}
				}
			}
		}
	}
	return set, added, nil
}

func buildConfig(o InitOptions, comps map[string]bool) Config {
	c := Config{Version: SchemaVersion, Cluster: Cluster{Name: o.Name, Domain: o.Domain}}
	var firstCP string
	var cps []string
	for _, h := range o.Hosts {
		c.Cluster.Nodes = append(c.Cluster.Nodes, Node{Hostname: h.Hostname, Address: h.Address, Role: h.Role})
		if h.Role == RoleControlPlane {
			cps = append(cps, h.Hostname)
		}
		if firstCP == "" && h.Role == RoleControlPlane {
			firstCP = h.Hostname
		}
	}
	if firstCP == "" {
		firstCP = o.Hosts[0].Hostname
	}
	cs := &c.Components
	if comps["openbao"] {
		cs.OpenBAO = &OpenBAO{Hosts: []string{firstCP}, Storage: "raft"}
	}
	if comps["k3s"] {
		cs.K3s = &K3s{}
		if comps["contour"] {
			cs.K3s.Disable = []string{"traefik"} // Contour is the ingress
		}
	}
	if comps["zot"] {
		// The registry runs natively on the control planes until an
		// in-cluster flavour exists; with no hosts nothing could install it.
		cs.Zot = &Zot{Flavor: FlavorZot, Hosts: cps}
		if len(cps) == 0 {
			cs.Zot.Hosts = []string{firstCP}
		}
	}
	if comps["prometheus"] {
		cs.Prometheus = &Prometheus{Retention: "30d"}
	}
	if comps["loki"] {
		cs.Loki = &Loki{Retention: "90d"}
	}
	if comps["grafana"] {
		cs.Grafana = &Grafana{AdminPassword: secrets.Ref{Path: secrets.CoreNamespace + "/grafana", Key: "admin_password"}.String()}
	}
	if comps["contour"] {
		cs.Contour = &Contour{}
	}
	if comps["cert-manager"] {
		cs.CertManager = &CertManager{}
	}
	if comps["external-dns"] {
		cs.ExternalDNS = &ExternalDNS{Provider: o.DNSProvider, DomainFilters: []string{o.Domain}}
	}
	if comps["minio"] {
		cs.MinIO = &MinIO{Deploy: "auto"}
	}
	if comps["velero"] {
		cs.Velero = &Velero{}
	}
	if comps["argocd"] {
		cs.ArgoCD = &ArgoCD{}
	}
	c.Foundry = &Foundry{SSHKeys: secrets.SSHKeysFile}
	addr := o.OpenBAOAddress
	if addr == "" && comps["openbao"] {
		addr = "https://" + net.JoinHostPort(firstCP, OpenBAOPort)
	}
	if addr != "" {
		c.Foundry.SSHKeys = secrets.SSHKeysOpenBAO
		c.Foundry.OpenBAO = &FoundryOpenBAO{Address: addr}
	}
	return c
}
