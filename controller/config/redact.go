package config

import (
	"bytes"
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"
)

// RedactedYAML renders the effective config as YAML for `config show`:
// secret references appear as written (never resolved) and any inline
// secret-looking value is replaced by <redacted>.
func (c *Config) RedactedYAML() ([]byte, error) {
	n, err := c.redactedNode()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return buf.Bytes(), nil
}

// RedactedJSON is RedactedYAML's data as JSON, for `config show --json`.
func (c *Config) RedactedJSON() ([]byte, error) {
	n, err := c.redactedNode()
	if err != nil {
		return nil, err
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("render config as JSON: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render config as JSON: %w", err)
	}
	return append(b, '\n'), nil
}

func (c *Config) redactedNode() (*yaml.Node, error) {
	e := c.Effective()
	var n yaml.Node
	if err := n.Encode(&e); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	redactNode(&n, "")
	return &n, nil
}

// redactNode hides inline secrets in every scalar under n; key is the
// mapping key n sits under.
func redactNode(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c, key)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redactNode(n.Content[i+1], n.Content[i].Value)
		}
	case yaml.ScalarNode:
		if r := redactValue(key, n.Value); r != n.Value {
			n.Value, n.Tag, n.Style = r, "!!str", 0
		}
	}
}
