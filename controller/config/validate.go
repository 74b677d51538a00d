package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// ValidateOptions lets tests (and future callers) swap the dependency
// table; the zero value uses DefaultDependencies.
type ValidateOptions struct {
	Dependencies Dependencies
}

// Validate returns every problem with the config, errors and warnings,
// in file order: schema problems found while loading, then semantic
// checks. It never stops at the first problem.
func (f *File) Validate() Problems { return f.ValidateWith(ValidateOptions{}) }

// ValidateWith is Validate with options.
func (f *File) ValidateWith(o ValidateOptions) Problems {
	deps := o.Dependencies
	if deps == nil {
		deps = DefaultDependencies()
	}
	v := &validator{f: f, c: &f.Config, deps: deps}
	v.problems = append(v.problems, f.dec.problems...)
	if !f.skipChecks {
		v.version()
		v.cluster()
		v.components()
		v.observability()
		v.storage()
		v.foundry()
		v.references()
		v.inlineSecrets()
	}
	return v.problems.sorted()
}

// LoadValid loads path and validates it: the error lists every error;
// the returned warnings are for the caller to show.
func LoadValid(path string) (*File, Problems, error) {
	f, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	ps := f.Validate()
	return f, ps.Warnings(), ps.Err()
}

type validator struct {
	f        *File
	c        *Config
	deps     Dependencies
	problems Problems
}

func (v *validator) report(sev Severity, p Pos, field, msg, fix string) {
	v.problems = append(v.problems, Problem{
		File: v.f.Path, Line: p.Line, Col: p.Col, Severity: sev, Field: field, Message: msg, Fix: fix,
	})
}

// errAt reports an error at the value of field.
func (v *validator) errAt(field, msg, fix string) {
	v.report(SeverityError, v.f.at(field), field, msg, fix)
}

// errAtKey reports an error at the key that introduces field.
func (v *validator) errAtKey(field, msg, fix string) {
	v.report(SeverityError, v.f.keyAt(field), field, msg, fix)
}

func (v *validator) warnAt(field, msg, fix string) {
	v.report(SeverityWarning, v.f.at(field), field, msg, fix)
}

// missing reports a required field that is absent or empty, at the value
// when there is one (an empty string), else at the key of the section it
// belongs in.
func (v *validator) missing(field, fix string) {
	p, ok := v.f.dec.pos[field]
	if !ok {
		p = v.f.keyAt(parent(field))
	}
	v.report(SeverityError, p, field, field+" is missing", fix)
}

func (v *validator) version() {
	switch v.c.Version {
	case SchemaVersion:
	case "":
		v.missing("version", `add version: "1.0" at the top of the file`)
	default:
		v.errAt("version", fmt.Sprintf("version %q is not supported", v.c.Version), `set version: "1.0" (the only format this Foundry reads)`)
	}
}

func (v *validator) cluster() {
	cl := v.c.Cluster
	if _, ok := v.f.dec.pos["cluster"]; !ok {
		v.errAt("cluster", "cluster is missing", "add a cluster: section with name, domain and nodes")
		return
	}
	if cl.Name == "" {
		v.missing("cluster.name", "add name: <stack name> (e.g. production) under cluster")
	} else if r := checkDNSLabel(cl.Name); r != "" {
		v.errAt("cluster.name", fmt.Sprintf("cluster.name %q %s", cl.Name, r), `use a short lower-case name such as "production"`)
	}
	if cl.Domain == "" {
		v.missing("cluster.domain", "add domain: <DNS domain> (e.g. example.com) under cluster")
	} else if r := checkDomain(cl.Domain); r != "" {
		v.errAt("cluster.domain", fmt.Sprintf("cluster.domain %q %s", cl.Domain, r), "use a DNS domain such as example.com")
	}
	if len(cl.Nodes) == 0 {
		v.errAt("cluster.nodes", "cluster.nodes is empty", "add at least one node with hostname and role")
		return
	}
	hosts := map[string]int{}
	addrs := map[netip.Addr]int{}
	for i, n := range cl.Nodes {
		v.node(i, n, hosts, addrs)
	}
	if v.c.Components.K3s != nil && len(v.c.ControlPlanes()) == 0 {
		v.errAt("cluster.nodes", "k3s is configured but no node has role control-plane", "set role: control-plane on at least one node")
	}
}

func (v *validator) node(i int, n Node, hosts map[string]int, addrs map[netip.Addr]int) {
	base := fmt.Sprintf("cluster.nodes[%d]", i)
	hf := base + ".hostname"
	switch r := checkHostname(n.Hostname); {
	case n.Hostname == "":
		v.missing(hf, "add hostname: <host name> to this node")
	case r != "":
		v.errAt(hf, fmt.Sprintf("%s %q %s", hf, n.Hostname, r), "use an RFC 1123 host name such as node1.example.com, and put an IP address in address")
	default:
		key := strings.ToLower(n.Hostname)
		if first, dup := hosts[key]; dup {
			v.errAt(hf, fmt.Sprintf("host %q is listed twice (also cluster.nodes[%d], line %d)", n.Hostname, first, v.f.at(fmt.Sprintf("cluster.nodes[%d].hostname", first)).Line),
				"keep one entry per host")
		} else {
			hosts[key] = i
		}
	}
	if n.Address != "" {
		af := base + ".address"
		a, err := netip.ParseAddr(n.Address)
		switch {
		case err != nil:
			v.errAt(af, fmt.Sprintf("%s %q is not an IP address", af, n.Address), "write an IPv4 or IPv6 address such as 192.168.1.10, or remove address to use DNS")
		case a.IsUnspecified() || a.IsMulticast():
			v.errAt(af, fmt.Sprintf("%s %q cannot be a host's address", af, n.Address), "use the host's unicast address")
		default:
			if first, dup := addrs[a]; dup {
				v.errAt(af, fmt.Sprintf("address %s is used twice (also cluster.nodes[%d])", a, first), "give each host its own address")
			} else {
				addrs[a] = i
			}
		}
	}
	for j, t := range n.Taints {
		if !validTaint(t) {
			v.errAt(fmt.Sprintf("%s.taints[%d]", base, j), fmt.Sprintf("taint %q is not key=value:Effect", t), "write a taint such as dedicated=db:NoSchedule (Effect: NoSchedule, PreferNoSchedule or NoExecute)")
		}
	}
	rf := base + ".role"
	switch n.Role {
	case RoleControlPlane, RoleWorker:
	case "":
		v.missing(rf, "set role: control-plane or role: worker")
	default:
		v.errAt(rf, fmt.Sprintf("%s %q is not a role", rf, n.Role), "use control-plane or worker")
	}
	for k, val := range n.Labels {
		lf := base + ".labels." + k
		if r := checkLabelKey(k); r != "" {
			v.errAtKey(lf, fmt.Sprintf("label key %q %s", k, r), "rename the label")
		}
		if r := checkLabelValue(val); r != "" {
			v.errAt(lf, fmt.Sprintf("label %s value %q %s", k, val, r), "change the value")
		}
	}
}

// validTaint accepts kubectl's key[=value]:Effect form.
func validTaint(t string) bool {
	kv, effect, ok := strings.Cut(t, ":")
	if !ok || !oneOf(effect, "NoSchedule", "PreferNoSchedule", "NoExecute") {
		return false
	}
	key, _, _ := strings.Cut(kv, "=")
	return key != "" && !strings.ContainsAny(kv, " \t\n,")
}
