package config

import "reflect"

// KnownComponents lists the component names the schema accepts, in the
// order they appear in Components. It is derived from the struct so the
// list and the schema cannot drift apart.
func KnownComponents() []string {
	t := reflect.TypeOf(Components{})
	out := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if n := yamlName(t.Field(i)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Configured reports which components (and ResourceTrueNAS) the config
// enables, for dependency checks and for the installer to plan with.
// Prometheus and Loki count as configured when they appear under
// observability too.
func (c *Config) Configured() map[string]bool {
	out := map[string]bool{}
	v := reflect.ValueOf(c.Components)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if n := yamlName(t.Field(i)); n != "" && !v.Field(i).IsNil() {
			out[n] = true
		}
	}
	if o := c.Observability; o != nil {
		if o.Prometheus != nil {
			out["prometheus"] = true
		}
		if o.Loki != nil {
			out["loki"] = true
		}
	}
	if c.Storage != nil && c.Storage.TrueNAS != nil {
		out[ResourceTrueNAS] = true
	}
	return out
}

// ControlPlanes returns the nodes with role control-plane.
func (c *Config) ControlPlanes() []Node {
	var out []Node
	for _, n := range c.Cluster.Nodes {
		if n.Role == RoleControlPlane {
			out = append(out, n)
		}
	}
	return out
}
