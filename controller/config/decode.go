package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML nodes one decode visits, so aliases cannot
// expand a small file into an enormous one ("billion laughs").
const maxNodes = 100_000

// scalar is one string value met while decoding, kept for the checks that
// look at every value (secret references, inline secrets).
type scalar struct {
	path  string // cluster.nodes[0].hostname
	key   string // the mapping key it sits under (hostname)
	value string
	pos   Pos
}

// decoder fills typed structs from a yaml.Node tree, strictly: unknown
// keys, duplicate keys and wrong types become problems with positions,
// and decoding carries on so every problem is reported in one pass.
type decoder struct {
	file     string
	problems Problems
	pos      map[string]Pos // value position by field path
	keyPos   map[string]Pos // key position by field path
	scalars  []scalar
	visited  int
	// nouns names what the keys of a mapping are, for friendlier unknown-
	// key messages ("unknown component" rather than "unknown key").
	nouns map[string]string
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:   file,
		pos:    map[string]Pos{},
		keyPos: map[string]Pos{},
		nouns:  map[string]string{"components": "component", "": "top-level key"},
	}
}

func (d *decoder) add(n *yaml.Node, field, msg, fix string) {
	p := Problem{File: d.file, Field: field, Message: msg, Fix: fix}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// decode fills v from n; key is the mapping key n sits under.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path, key string) {
	d.visited++
	if d.visited > maxNodes {
		if d.visited == maxNodes+1 {
			d.add(n, path, "the file expands to more than 100000 YAML nodes (through aliases)", "write the values out instead of using anchors and aliases")
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		d.decode(n.Alias, v, path, key)
		return
	}
	d.pos[path] = Pos{n.Line, n.Column}
	d.decodeValue(n, v, path, key)
}

func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, path, key string) {
	switch v.Kind() {
	case reflect.Pointer:
		// An empty entry ("argocd:") still means "configured, defaults".
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decodeValue(n, v.Elem(), path, key)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.String:
		switch {
		case isNull(n):
			v.SetString("")
		case n.Kind == yaml.ScalarNode:
			v.SetString(n.Value)
			d.scalars = append(d.scalars, scalar{path, key, n.Value, Pos{n.Line, n.Column}})
		default:
			d.add(n, path, fmt.Sprintf("%s must be a single value, not %s", path, kindName(n)), "write it as "+lastKey(path)+": value")
		}
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.add(n, path, fmt.Sprintf("%s must be true or false, not %s", path, kindName(n)), "write "+lastKey(path)+": true or "+lastKey(path)+": false")
			return
		}
		v.SetBool(b)
	case reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			d.add(n, path, fmt.Sprintf("%s must be a whole number, not %s", path, kindName(n)), "write a number such as "+lastKey(path)+": 2")
			return
		}
		v.SetInt(int64(i))
	case reflect.Slice:
		d.decodeSlice(n, v, path, key)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		panic("config: unsupported field kind " + v.Kind().String()) // a schema bug, caught by tests
	}
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return "key"
	}
	return path
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path, key string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.add(n, path, fmt.Sprintf("%s must be a list, not %s", path, kindName(n)), "write each item on its own line starting with '- '")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), key)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(n, path, fmt.Sprintf("%s must be a mapping of key: value, not %s", path, kindName(n)), "write one key: value per line under "+lastKey(path))
		return
	}
	m := reflect.MakeMap(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			d.add(k, join(path, k.Value), fmt.Sprintf("%s is given twice (first on line %d)", join(path, k.Value), prev.Line), "keep one of them")
			continue
		}
		seen[k.Value] = k
		elem := reflect.New(v.Type().Elem()).Elem()
		d.keyPos[join(path, k.Value)] = Pos{k.Line, k.Column}
		d.decode(val, elem, join(path, k.Value), k.Value)
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
}

// yamlName is the key a struct field is written under ("" to skip).
func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		what := path
		if what == "" {
			what = "the file"
		}
		d.add(n, path, fmt.Sprintf("%s must be a mapping of key: value, not %s", what, kindName(n)), "write one key: value per line, indented under "+lastKey(path))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var allowed []string
	for i := 0; i < t.NumField(); i++ {
		if name := yamlName(t.Field(i)); name != "" {
			fields[name] = i
			allowed = append(allowed, name)
		}
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		if prev, dup := seen[k.Value]; dup {
			d.add(k, field, fmt.Sprintf("%s is given twice (first on line %d)", field, prev.Line), "keep one of them")
			continue
		}
		seen[k.Value] = k
		idx, ok := fields[k.Value]
		if !ok {
			noun := d.nouns[path]
			if noun == "" {
				noun = "key"
			}
			where := ""
			if path != "" {
				where = " in " + path
			}
			d.add(k, field, fmt.Sprintf("unknown %s %q%s", noun, k.Value, where), "use one of: "+strings.Join(allowed, ", "))
			continue
		}
		d.keyPos[field] = Pos{k.Line, k.Column}
		d.decode(val, v.Field(idx), field, k.Value)
	}
}
