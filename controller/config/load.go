package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxConfigSize bounds a config file; real ones are a few KiB.
const maxConfigSize = 1 << 20

// File is a loaded config: the typed Config plus what is needed to report
// problems against the file (positions) and to warn about its permissions.
type File struct {
	Path   string
	Mode   fs.FileMode // permission bits; 0 when parsed from memory
	Config Config

	dec        *decoder
	skipChecks bool // empty file, or a root that is not a mapping
}

// Load reads and decodes the config at path. It fails only when nothing
// usable could be read (missing file: ErrNoConfig; unreadable; YAML
// syntax error as Problems). Schema and semantic problems are reported by
// Validate, all at once.
func Load(path string) (*File, error) {
	fd, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; run `foundry config init` or choose another file with --config", ErrNoConfig, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open config %s: %w", path, err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat config %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("config %s is a directory; pass a .yaml file", path)
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	f.Mode = st.Mode().Perm()
	return f, nil
}

// Parse decodes config text; name is used in problem positions. Like Load,
// it returns an error only for text that is not YAML at all.
func Parse(name string, data []byte) (*File, error) {
	if len(data) > maxConfigSize {
		return nil, Problems{{File: name, Message: "the file is larger than 1 MiB", Fix: "a stack config is a few KiB; check that this is the right file"}}
	}
	f := &File{Path: name, dec: newDecoder(name)}
	docs, err := parseDocuments(name, data)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 || len(docs[0].Content) == 0 {
		f.skipChecks = true
		f.dec.add(nil, "", "the file is empty", "run `foundry config init` to write a starting config")
		return f, nil
	}
	if len(docs) > 1 {
		f.dec.add(docs[1], "", "the file holds more than one YAML document ('---')", "keep one stack per file; put other stacks in their own .yaml files")
	}
	root := docs[0].Content[0]
	if root.Kind != yaml.MappingNode {
		// Nothing below can be checked; say only this.
		f.skipChecks = true
		f.dec.add(root, "", "the file must be a mapping of key: value lines, not "+kindName(root), `start it with version: "1.0" and cluster:, or run `+"`foundry config init`")
		return f, nil
	}
	f.dec.decode(root, reflect.ValueOf(&f.Config).Elem(), "", "")
	return f, nil
}

const yamlLineErrPattern = `^yaml: line (\d+): (.*)$`

// parseDocuments parses every YAML document in data. A syntax error comes
// back as one Problem with the line yaml.v3 reports.
func parseDocuments(name string, data []byte) (docs []*yaml.Node, err error) {
	defer func() {
		// yaml.v3 has panicked on hostile input in the past; a config
		// loader must report, not crash.
		if r := recover(); r != nil {
			docs, err = nil, Problems{{File: name, Message: fmt.Sprintf("the YAML parser failed: %v", r), Fix: "check the file's syntax"}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, syntaxProblem(name, err)
		}
		docs = append(docs, &doc)
	}
}

func syntaxProblem(name string, err error) error {
	p := Problem{File: name, Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Fix: "fix the syntax (indent with spaces, not tabs; quote values that contain ': ' or start with '{', '[', '*', '&' or '%')"}
	if m := regexp.MustCompile(yamlLineErrPattern).FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = "invalid YAML: " + m[2]
	}
	return Problems{p}
}

// at returns the position of field, or of its nearest ancestor that has
// one, so problems about missing fields point somewhere useful.
func (f *File) at(field string) Pos {
	for {
		if p, ok := f.dec.pos[field]; ok {
			return p
		}
		if field == "" {
			return Pos{1, 1}
		}
		field = parent(field)
	}
}

// keyAt is the position of the key that introduces field (falls back to
// the value's position).
func (f *File) keyAt(field string) Pos {
	if p, ok := f.dec.keyPos[field]; ok {
		return p
	}
	return f.at(field)
}

func parent(field string) string {
	for i := len(field) - 1; i >= 0; i-- {
		if field[i] == '.' || field[i] == '[' {
			return field[:i]
		}
	}
	return ""
}
