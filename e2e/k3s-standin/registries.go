package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Registries is k3s's registries.yaml. The stand-in pulls no images, so it
// only validates the file (k3s refuses a broken one at start) and records
// the mirrors on its Node for tests to read.
type Registries struct {
	Mirrors map[string]RegistryMirror `json:"mirrors"`
	Configs map[string]RegistryConfig `json:"configs"`
}

// RegistryMirror is one entry under mirrors.
type RegistryMirror struct {
	Endpoints []string          `json:"endpoint"`
	Rewrites  map[string]string `json:"rewrite"`
}

// RegistryConfig is one entry under configs.
type RegistryConfig struct {
	Auth *RegistryAuth `json:"auth"`
	TLS  *RegistryTLS  `json:"tls"`
}

// RegistryAuth holds credentials; never logged or recorded.
type RegistryAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
}

// RegistryTLS names files that must exist, as containerd would load them.
type RegistryTLS struct {
	CAFile             string `json:"ca_file"`
	CertFile           string `json:"cert_file"`
	KeyFile            string `json:"key_file"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
}

// loadRegistries reads path; a missing file means no registries. Any
// syntax error, wrong type, unknown top-level key or missing TLS file is an
// error the caller turns into a non-zero exit.
func loadRegistries(path string) (*Registries, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Registries{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read registries %s: %w", path, err)
	}
	var top map[string]json.RawMessage
	if err := yaml.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("registries %s: invalid YAML: %w", path, err)
	}
	for k := range top {
		if k != "mirrors" && k != "configs" {
			return nil, fmt.Errorf("registries %s: unknown top-level key %q (want mirrors, configs)", path, k)
		}
	}
	var r Registries
	if err := yaml.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("registries %s: %w", path, err)
	}
	for host, c := range r.Configs {
		if c.TLS == nil {
			continue
		}
		for _, f := range []string{c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("registries %s: configs.%s.tls: %w", path, host, err)
			}
		}
	}
	return &r, nil
}

// annotation is the JSON recorded on the Node: mirror name -> endpoints
// (encoding/json sorts the keys, so it is stable).
func (r *Registries) annotation() (string, error) {
	m := make(map[string][]string, len(r.Mirrors))
	for name, mir := range r.Mirrors {
		eps := mir.Endpoints
		if eps == nil {
			eps = []string{}
		}
		m[name] = eps
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode registries annotation: %w", err)
	}
	return string(b), nil
}
