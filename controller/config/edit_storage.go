package config

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// TrueNASEdit is the outcome of SetTrueNAS: the file's new text and
// whether anything changed, so a dry run can show it and a re-run can
// say "unchanged".
type TrueNASEdit struct {
	Path    string
	Text    []byte
	Changed bool
	// Replaced is true when a different storage.truenas was there before.
	Replaced bool
}

// RenderTrueNAS is SetTrueNAS without writing: the config at path with
// storage.truenas set to t, everything else kept (comments included, as
// far as YAML round-trips them). The result is checked: an edit that
// leaves storage.truenas invalid is refused, naming the problem.
func RenderTrueNAS(path string, t TrueNAS) (*TrueNASEdit, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	old, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s is not a mapping of key: value lines; fix it (foundry config validate) before configuring storage", path)
	}
	var section yaml.Node
	if err := section.Encode(&t); err != nil {
		return nil, fmt.Errorf("render storage.truenas: %w", err)
	}
	storage := mappingValue(doc.Content[0], "storage")
	if storage.Kind != yaml.MappingNode {
		// "storage:" with no value (null) becomes a mapping.
		*storage = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: storage.HeadComment, LineComment: storage.LineComment}
	}
	tn := mappingValue(storage, "truenas")
	section.HeadComment, section.LineComment, section.FootComment = tn.HeadComment, tn.LineComment, tn.FootComment
	*tn = section

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("render config %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render config %s: %w", path, err)
	}
	edited, err := Parse(path, buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the edited config does not parse (a bug in Foundry; please report it): %w", err)
	}
	for _, p := range edited.Validate().Errors() {
		if strings.HasPrefix(p.Field, "storage.truenas") {
			return nil, fmt.Errorf("storage.truenas would be invalid: %s; %s", p.Message, p.Fix)
		}
	}
	var before TrueNAS
	if old.Config.Storage != nil && old.Config.Storage.TrueNAS != nil {
		before = *old.Config.Storage.TrueNAS
	}
	changed := before != t
	return &TrueNASEdit{Path: path, Text: buf.Bytes(), Changed: changed, Replaced: changed && before != (TrueNAS{})}, nil
}

// SetTrueNAS writes storage.truenas into the config at path (see
// RenderTrueNAS). The file is replaced atomically and keeps mode 0600;
// an unchanged section leaves the file alone.
func SetTrueNAS(path string, t TrueNAS) (*TrueNASEdit, error) {
	e, err := RenderTrueNAS(path, t)
	if err != nil || !e.Changed {
		return e, err
	}
	if err := writeConfig(path, e.Text, true); err != nil {
		return nil, err
	}
	return e, nil
}

// mappingValue returns the value node of key in m, adding an empty one
// when the key is absent.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	m.Content = append(m.Content, k, v)
	return v
}
