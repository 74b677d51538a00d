package config

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
)

// components checks every configured component's settings, then the
// dependency table and the dependencies between configured components.
func (v *validator) components() {
	cs := &v.c.Components
	v.versions()
	if c := cs.OpenBAO; c != nil {
		v.openbao(c)
	}
	if c := cs.K3s; c != nil {
		v.k3s(c)
	}
	if c := cs.Zot; c != nil {
		v.zot(c)
	}
	if c := cs.Prometheus; c != nil {
		v.retentionAndStorage("components.prometheus", c.Retention, c.Storage)
	}
	if c := cs.Loki; c != nil {
		v.retentionAndStorage("components.loki", c.Retention, c.Storage)
	}
	if c := cs.Grafana; c != nil {
		for i, p := range c.Plugins {
			if strings.TrimSpace(p) == "" {
				v.errAt(fmt.Sprintf("components.grafana.plugins[%d]", i), "a Grafana plugin name is empty", "remove the empty entry")
			}
		}
	}
	if c := cs.Contour; c != nil {
		v.contour(c)
	}
	if c := cs.CertManager; c != nil {
		v.certManager(c)
	}
	if c := cs.ExternalDNS; c != nil {
		v.externalDNS(c)
	}
	if c := cs.MinIO; c != nil {
		v.minio(c)
	}
	if c := cs.Velero; c != nil {
		v.velero(c)
	}
	v.dependencies()
}

// versions checks each configured component's version field, found by
// reflection so a new component cannot be forgotten.
func (v *validator) versions() {
	cv := reflect.ValueOf(v.c.Components)
	for i := 0; i < cv.NumField(); i++ {
		name := yamlName(cv.Type().Field(i))
		if name == "" || cv.Field(i).IsNil() {
			continue
		}
		ver := cv.Field(i).Elem().FieldByName("Version").String()
		field := "components." + name + ".version"
		if ver != "" {
			if r := checkVersion(ver); r != "" {
				v.errAt(field, fmt.Sprintf("%s %q %s", field, ver, r), "pin a release such as 2.1.0, or omit version for the latest")
			}
		}
	}
}

func (v *validator) openbao(c *OpenBAO) {
	const base = "components.openbao"
	if len(c.Hosts) == 0 {
		v.report(SeverityWarning, v.f.keyAt(base), base, "openbao has no hosts, so Foundry cannot install it (only use an existing one)", "list the host(s) OpenBAO runs on under components.openbao.hosts")
	}
	v.hostList(base, "OpenBAO", c.Hosts)
	if c.Storage != "" && !oneOf(c.Storage, "raft", "file", "postgresql", "consul") {
		v.errAt(base+".storage", fmt.Sprintf("OpenBAO storage %q is not supported", c.Storage), "use raft (the default), file, postgresql or consul")
	}
}

// hostList checks the hosts a host component runs on.
func (v *validator) hostList(base, what string, hosts []string) {
	seen := map[string]bool{}
	for i, h := range hosts {
		f := fmt.Sprintf("%s.hosts[%d]", base, i)
		if _, err := netip.ParseAddr(h); err != nil {
			if r := checkHostname(h); r != "" {
				v.errAt(f, fmt.Sprintf("%s %q %s", f, h, r), "use a host name such as "+strings.ToLower(what)+".example.com or an IP address")
			}
		}
		if seen[strings.ToLower(h)] {
			v.errAt(f, fmt.Sprintf("%s host %q is listed twice", what, h), "keep one entry per host")
		}
		seen[strings.ToLower(h)] = true
	}
}

func (v *validator) k3s(c *K3s) {
	const base = "components.k3s"
	var vip netip.Addr
	if c.VIP != "" {
		a, err := netip.ParseAddr(c.VIP)
		if err != nil {
			v.errAt(base+".vip", fmt.Sprintf("k3s vip %q is not an IP address", c.VIP), "use a free address on the nodes' network, such as 192.168.1.100")
		} else {
			vip = a
		}
	}
	if c.HA && c.VIP == "" {
		v.warnAt(base+".ha", "k3s ha is true but vip is empty: joins and the kubeconfig use the first control-plane node's address", "set vip to an address the control planes share (Foundry does not hold it; use keepalived or kube-vip), or accept that the first node is the API address")
	}
	for _, f := range []struct{ key, cidr string }{{"cluster-cidr", c.ClusterCIDR}, {"service-cidr", c.ServiceCIDR}} {
		if _, err := netip.ParsePrefix(f.cidr); f.cidr != "" && err != nil {
			v.errAt(base+"."+f.key, fmt.Sprintf("k3s %s %q is not a CIDR", f.key, f.cidr), "write a network such as 10.42.0.0/16, or remove it for k3s's default")
		}
	}
	for i, s := range c.TLSSANs {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\n/:") && !isIP(s) {
			v.errAt(fmt.Sprintf("%s.tls-san[%d]", base, i), fmt.Sprintf("k3s tls-san %q is neither a host name nor an IP address", s), "list DNS names or IP addresses")
		}
	}
	if c.HA && len(v.c.ControlPlanes()) < 3 {
		v.warnAt(base+".ha", fmt.Sprintf("k3s ha is true with %d control-plane node(s); embedded etcd needs 3 or more to survive a failure", len(v.c.ControlPlanes())), "give 3 nodes role control-plane, or set ha: false")
	}
	if vip.IsValid() {
		for i, n := range v.c.Cluster.Nodes {
			if a, err := netip.ParseAddr(n.Address); err == nil && a == vip {
				v.errAt(base+".vip", fmt.Sprintf("k3s vip %s is also the address of cluster.nodes[%d]", vip, i), "pick an address no host uses")
			}
		}
	}
	for i, d := range c.Disable {
		if !oneOf(d, "traefik", "servicelb", "local-storage", "metrics-server", "coredns") {
			v.errAt(fmt.Sprintf("%s.disable[%d]", base, i), fmt.Sprintf("k3s cannot disable %q", d), "use traefik, servicelb, local-storage, metrics-server or coredns")
		}
	}
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (v *validator) zot(c *Zot) {
	const base = "components.zot"
	if c.Flavor != "" && !oneOf(c.Flavor, FlavorZot, FlavorDistribution) {
		v.errAt(base+".flavor", fmt.Sprintf("registry flavor %q is not supported", c.Flavor), "use zot (the default) or distribution")
	}
	if len(c.Hosts) == 0 {
		v.report(SeverityWarning, v.f.keyAt(base), base, "zot has no hosts, so Foundry cannot install the registry (stack validate refuses it)", "list the host(s) the registry runs on under components.zot.hosts, such as your control-plane nodes")
	}
	v.hostList(base, "registry", c.Hosts)
	if c.Auth != "" && !oneOf(c.Auth, "openbao", "htpasswd", "none") {
		v.errAt(base+".auth", fmt.Sprintf("registry auth %q is not supported", c.Auth), "use openbao (OIDC), htpasswd or none")
	}
	if c.Storage != nil {
		v.volume(base+".storage", c.Storage.Backend, c.Storage.Size)
	}
}

// volume checks a backend/size pair shared by several components.
func (v *validator) volume(base, backend, size string) {
	if backend != "" {
		if !oneOf(backend, "truenas", "local") {
			v.errAt(base+".backend", fmt.Sprintf("storage backend %q is not supported", backend), "use truenas or local")
		} else if backend == "truenas" && !v.c.Configured()[ResourceTrueNAS] {
			v.errAt(base+".backend", "storage backend truenas needs storage.truenas, which is not configured", "add storage.truenas with api_url and api_key, or use backend: local")
		}
	}
	if size != "" {
		if r := checkSize(size); r != "" {
			v.errAt(base+".size", fmt.Sprintf("%s.size %q %s", base, size, r), "write a Kubernetes quantity such as 500Gi")
		}
	}
}

func (v *validator) retentionAndStorage(base, retention string, st *VolumeStorage) {
	if retention != "" {
		if r := checkRetention(retention); r != "" {
			v.errAt(base+".retention", fmt.Sprintf("%s.retention %q %s", base, retention, r), "write a duration such as 30d")
		}
	}
	if st != nil {
		v.volume(base+".storage", st.Backend, st.Size)
	}
}

func (v *validator) contour(c *Contour) {
	if p, set := v.f.dec.pos["components.contour.replicas"]; set && c.Replicas < 1 {
		v.report(SeverityError, p, "components.contour.replicas", fmt.Sprintf("contour replicas is %d", c.Replicas), "use 1 or more")
	}
	if c.ServiceType != "" && !oneOf(c.ServiceType, "LoadBalancer", "NodePort") {
		v.errAt("components.contour.service_type", fmt.Sprintf("contour service_type %q is not supported", c.ServiceType), "use LoadBalancer or NodePort")
	}
}

func (v *validator) certManager(c *CertManager) {
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			v.errAt("components.cert-manager.email", fmt.Sprintf("cert-manager email %q is not an email address", c.Email), "use the address Let's Encrypt should write to, such as ops@example.com")
		}
	}
	if c.Issuer != "" && !oneOf(c.Issuer, "letsencrypt", "letsencrypt-staging", "acme", "selfsigned", "none") {
		v.errAt("components.cert-manager.issuer", fmt.Sprintf("cert-manager issuer %q is not supported", c.Issuer), "use letsencrypt, letsencrypt-staging, acme (with acme_server), selfsigned, or none to create no issuers")
	}
	if oneOf(c.Issuer, "letsencrypt", "letsencrypt-staging", "acme") && c.Email == "" {
		v.errAtKey("components.cert-manager", "cert-manager issuer "+c.Issuer+" needs an email", "add email: <ACME contact address> under cert-manager")
	}
	switch {
	case c.Issuer == "acme" && c.ACMEServer == "":
		v.errAtKey("components.cert-manager", "cert-manager issuer acme needs an acme_server", "add acme_server: <ACME directory URL> under cert-manager, or use issuer: letsencrypt")
	case c.ACMEServer != "" && c.Issuer != "acme":
		v.errAt("components.cert-manager.acme_server", "cert-manager acme_server is set but the issuer is not acme", "set issuer: acme, or remove acme_server")
	case c.ACMEServer != "":
		if u, err := url.Parse(c.ACMEServer); err != nil || u.Scheme != "https" || u.Host == "" {
			v.errAt("components.cert-manager.acme_server", fmt.Sprintf("cert-manager acme_server %q is not an https URL", c.ACMEServer), "use the ACME directory URL, such as https://ca.example.com/acme/acme/directory")
		}
	}
}

func (v *validator) externalDNS(c *ExternalDNS) {
	if c.Provider == "" {
		v.missing("components.external-dns.provider", "set the DNS provider, such as cloudflare, route53 or rfc2136")
	}
	for i, d := range c.DomainFilters {
		if r := checkDomain(d); r != "" {
			f := fmt.Sprintf("components.external-dns.domain_filters[%d]", i)
			v.errAt(f, fmt.Sprintf("%s %q %s", f, d, r), "use a DNS domain such as example.com")
		}
	}
}

func (v *validator) minio(c *MinIO) {
	if c.Deploy != "" && !oneOf(c.Deploy, "auto", "true", "false") {
		v.errAt("components.minio.deploy", fmt.Sprintf("minio deploy %q is not supported", c.Deploy), "use auto (deploy only if TrueNAS has no S3), true or false")
	}
	if c.Storage != nil {
		v.volume("components.minio.storage", c.Storage.Backend, c.Storage.Size)
	}
}

func (v *validator) velero(c *Velero) {
	const base = "components.velero"
	switch c.Backend {
	case "":
	case "minio":
		if v.c.Components.MinIO == nil {
			v.errAt(base+".backend", "velero backend minio needs the minio component, which is not configured", "add minio under components, or use backend: truenas")
		}
	case "truenas":
		if !v.c.Configured()[ResourceTrueNAS] {
			v.errAt(base+".backend", "velero backend truenas needs storage.truenas, which is not configured", "add storage.truenas, or use backend: minio")
		}
	default:
		v.errAt(base+".backend", fmt.Sprintf("velero backend %q is not supported", c.Backend), "use minio or truenas")
	}
	if c.Schedule != "" && !validCron(c.Schedule) {
		v.errAt(base+".schedule", fmt.Sprintf("velero schedule %q is not a cron expression", c.Schedule), `write five fields ("0 2 * * *") or a macro such as @daily`)
	}
	if c.Bucket != "" && !validBucket(c.Bucket) {
		v.errAt(base+".bucket", fmt.Sprintf("velero bucket %q is not an S3 bucket name", c.Bucket), "use 3 to 63 lowercase letters, digits, '.' or '-', such as velero")
	}
	if c.Backend == "truenas" && v.c.Storage != nil && v.c.Storage.TrueNAS != nil && v.c.Storage.TrueNAS.S3Endpoint == "" {
		v.errAt(base+".backend", "velero backend truenas needs storage.truenas.s3_endpoint, which is empty", "set s3_endpoint to TrueNAS's S3 service, such as https://truenas.example.com:9000, or use backend: minio")
	}
}

// validBucket follows the S3 bucket naming rules that matter for a
// path-style endpoint: length, character set, and alphanumeric ends.
func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return false
	}
	isAlnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	return isAlnum(s[0]) && isAlnum(s[len(s)-1])
}

// MinIOWanted reports whether the minio component should be installed:
// deploy true, or auto (the default) while TrueNAS offers no S3.
func (c *Config) MinIOWanted() bool {
	m := c.Components.MinIO
	if m == nil {
		return false
	}
	switch m.Deploy {
	case "true":
		return true
	case "false":
		return false
	}
	return c.Storage == nil || c.Storage.TrueNAS == nil || c.Storage.TrueNAS.S3Endpoint == ""
}

func validCron(s string) bool {
	if strings.HasPrefix(s, "@") {
		return oneOf(s, "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return false
	}
	for _, f := range fields {
		if strings.Trim(f, "0123456789*/,-") != "" {
			return false
		}
	}
	return true
}

// dependencies checks the table itself for cycles, then that every
// configured component has what it needs.
func (v *validator) dependencies() {
	if cyc := v.deps.Cycle(); cyc != nil {
		v.errAtKey("components", "the component dependency table has a cycle: "+strings.Join(cyc, " -> "),
			"this is a bug in Foundry, not in your config; please report it")
	}
	conf := v.c.Configured()
	for _, name := range KnownComponents() {
		if !conf[name] {
			continue
		}
		field := "components." + name
		if _, ok := v.f.dec.keyPos[field]; !ok {
			field = "observability." + name // configured through observability
		}
		for _, req := range v.deps.Unmet(name, conf) {
			if len(req) == 1 {
				v.errAtKey(field, fmt.Sprintf("%s needs %s, which is not configured", name, req[0]),
					fmt.Sprintf("add %s (or remove %s)", where(req[0]), name))
				continue
			}
			v.errAtKey(field, fmt.Sprintf("%s needs %s, and none of them is configured", name, req),
				fmt.Sprintf("add one of them (or remove %s)", name))
		}
	}
}

func where(name string) string {
	if name == ResourceTrueNAS {
		return "storage.truenas"
	}
	return name + " under components"
}
