package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// observability checks the seed-style settings and that none is given
// twice (here and under components).
func (v *validator) observability() {
	o := v.c.Observability
	if o == nil {
		return
	}
	check := func(name string, s *ObservabilitySettings, compRetention string, compStorage *VolumeStorage) {
		if s == nil {
			return
		}
		base := "observability." + name
		v.retentionAndStorage(base, s.Retention, s.Storage)
		comp := "components." + name
		if s.Retention != "" && compRetention != "" {
			v.errAt(base+".retention", fmt.Sprintf("%s retention is set here and in %s (line %d)", name, comp, v.f.at(comp+".retention").Line), "keep one of them")
		}
		if s.Storage != nil && compStorage != nil {
			v.errAt(base+".storage", fmt.Sprintf("%s storage is set here and in %s (line %d)", name, comp, v.f.at(comp+".storage").Line), "keep one of them")
		}
	}
	var pr, lr string
	var ps, ls *VolumeStorage
	if p := v.c.Components.Prometheus; p != nil {
		pr, ps = p.Retention, p.Storage
	}
	if l := v.c.Components.Loki; l != nil {
		lr, ls = l.Retention, l.Storage
	}
	check("prometheus", o.Prometheus, pr, ps)
	check("loki", o.Loki, lr, ls)
}

func (v *validator) storage() {
	s := v.c.Storage
	if s == nil || s.TrueNAS == nil {
		return
	}
	t := s.TrueNAS
	const base = "storage.truenas"
	if t.APIURL == "" {
		v.missing(base+".api_url", "add api_url: https://<truenas host> under storage.truenas")
	} else if u, err := url.Parse(t.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.errAt(base+".api_url", fmt.Sprintf("storage.truenas.api_url %q is not an http(s) URL", redactURL(t.APIURL)), "write it as https://truenas.example.com")
	} else if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		v.warnAt(base+".api_url", "storage.truenas.api_url uses http, so the API key crosses the network in clear", "use https")
	}
	if t.APIKey == "" {
		v.missing(base+".api_key", "add api_key: ${secret:foundry/truenas:api_key} and store the key with `foundry secret set foundry/truenas --key api_key`")
	}
	if p, set := v.f.dec.pos[base+".ca_file"]; set && strings.TrimSpace(t.CAFile) == "" {
		v.report(SeverityError, p, base+".ca_file", "storage.truenas.ca_file is empty", "give the path of the CA certificate that signed TrueNAS's certificate, or remove the key")
	}
	if t.Dataset != "" {
		if r := datasetNameProblem(t.Dataset); r != "" {
			v.errAt(base+".dataset", fmt.Sprintf("storage.truenas.dataset %q %s", t.Dataset, r), "write it as pool or pool/dataset, such as tank/foundry")
		}
	}
	if t.S3Endpoint != "" {
		if u, err := url.Parse(t.S3Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.errAt(base+".s3_endpoint", fmt.Sprintf("storage.truenas.s3_endpoint %q is not an http(s) URL of a host", redactURL(t.S3Endpoint)), "write it as https://truenas.example.com:9000")
		}
	}
}

// datasetNameProblem says why name is not a ZFS dataset name ("" if it is).
func datasetNameProblem(name string) string {
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return "is not a dataset name (no leading, trailing or doubled /)"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.:/ ", r)) {
			return fmt.Sprintf("has %q, which a ZFS dataset name cannot hold", r)
		}
	}
	return ""
}

func (v *validator) foundry() {
	fo := v.c.Foundry
	if fo == nil {
		return
	}
	if c := fo.Controller; c != nil {
		seen := map[string]bool{}
		for i, raw := range c.URLs {
			f := fmt.Sprintf("foundry.controller.urls[%d]", i)
			u, err := url.Parse(raw)
			if err != nil || !oneOf(u.Scheme, "nats", "tls", "ws", "wss") || u.Host == "" {
				v.errAt(f, fmt.Sprintf("controller URL %q is not a NATS URL", redactURL(raw)), "write it as tls://controller.example.com:4222 (schemes: nats, tls, ws, wss)")
				continue
			}
			if seen[raw] {
				v.errAt(f, fmt.Sprintf("controller URL %q is listed twice", redactURL(raw)), "keep one")
			}
			seen[raw] = true
		}
		if p, set := v.f.dec.pos["foundry.controller.ca_file"]; set && strings.TrimSpace(c.CAFile) == "" {
			v.report(SeverityError, p, "foundry.controller.ca_file", "foundry.controller.ca_file is empty", "give the path of the controller's CA certificate, or remove the key")
		}
	}
	if fo.SSHKeys != "" {
		switch fo.SSHKeys {
		case secrets.SSHKeysFile:
		case secrets.SSHKeysOpenBAO:
			if v.c.Components.OpenBAO == nil && (fo.OpenBAO == nil || fo.OpenBAO.Address == "") {
				v.errAt("foundry.ssh_keys", "ssh_keys is openbao but OpenBAO is not configured", "add components.openbao or foundry.openbao.address, or set ssh_keys: file")
			}
		default:
			v.errAt("foundry.ssh_keys", fmt.Sprintf("ssh_keys %q is not supported", fo.SSHKeys), "use openbao (keys in OpenBAO) or file (0600 files in ~/.foundry/ssh-keys)")
		}
	}
	if b := fo.OpenBAO; b != nil {
		if b.Address != "" {
			u, err := url.Parse(b.Address)
			switch {
			case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
				v.errAt("foundry.openbao.address", fmt.Sprintf("foundry.openbao.address %q is not an http(s) URL", redactURL(b.Address)), "write it as https://openbao.example.com:8200")
			case u.Scheme == "http" && !isLoopback(u.Hostname()):
				v.warnAt("foundry.openbao.address", "foundry.openbao.address uses http, so tokens and secrets cross the network in clear", "use https")
			}
		}
		if b.Mount != "" {
			if r := secrets.ValidPath(b.Mount); r != "" {
				v.errAt("foundry.openbao.mount", fmt.Sprintf("foundry.openbao.mount %q: %s", b.Mount, r), "use the KV v2 mount's path, such as secret")
			}
		}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// references checks every ${secret:...} in every value.
func (v *validator) references() {
	for _, s := range v.f.dec.scalars {
		if _, err := secrets.FindRefs(s.value); err != nil {
			var re *secrets.RefError
			if errors.As(err, &re) {
				v.report(SeverityError, s.pos, s.path, fmt.Sprintf("%s holds a malformed secret reference %q: %s", s.path, re.Text, re.Reason), "write it as ${secret:path/to/secret:key}")
			}
		}
	}
}

// inlineSecrets warns about secret-looking values written into a file
// that others can read. (A 0600 file is the user's own business; `config
// show` redacts either way.)
func (v *validator) inlineSecrets() {
	perm := v.f.Mode.Perm()
	if perm&0o077 == 0 {
		return
	}
	for _, s := range v.f.dec.scalars {
		if !inlineSecret(s.key, s.value) {
			continue
		}
		path, key := suggestedSecret(s.path)
		v.report(SeverityWarning, s.pos, s.path,
			fmt.Sprintf("%s looks like an inline secret and %s is readable by group or others (mode %04o)", s.path, v.f.Path, perm),
			fmt.Sprintf("store it with `foundry secret set %s --key %s` and write ${secret:%s:%s} here, or run `chmod 600 %s`", path, key, path, key, v.f.Path))
	}
}

// suggestedSecret proposes where an inline value should live: the
// component (or section) it belongs to, under Foundry's namespace.
func suggestedSecret(field string) (path, key string) {
	parts := strings.Split(field, ".")
	key = parts[len(parts)-1]
	owner := "stack"
	if len(parts) >= 2 {
		owner = parts[len(parts)-2]
	}
	if i := strings.IndexByte(owner, '['); i >= 0 {
		owner = owner[:i]
	}
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	return secrets.CoreNamespace + "/" + owner, key
}

// redactURL hides a password in a URL before it goes into a message.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// Unparseable: hide anything that might be user:password@.
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			return "<redacted>" + s[i:]
		}
		return s
	}
	if u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	return redactedURL(u)
}
