package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadMinimalIsValid(t *testing.T) {
	p, ps := loadProblems(t, minimal, 0o600)
	if len(ps) != 0 {
		t.Fatalf("%s: unexpected problems:\n%s", p, ps)
	}
}

func TestLoadAbsentIsErrNoConfig(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, ErrNoConfig) || !strings.Contains(err.Error(), "foundry config init") {
		t.Fatalf("err = %v", err)
	}
}

// Schema problems: each must carry file:line:col, say what is wrong and
// what to change.
func TestLoadSchemaProblemsHavePositions(t *testing.T) {
	cases := []struct {
		name  string
		text  string
		wants []want
	}{
		{
			name: "unknown key lists allowed keys",
			text: `version: "1.0"
cluster:
  name: prod
  domian: example.com
  nodes:
    - hostname: node1.example.com
      role: control-plane
`,
			wants: []want{
				e("4:3", `unknown key "domian" in cluster`, "use one of: name, domain, nodes"),
				e("2:1", "cluster.domain is missing", "add domain:"),
			},
		},
		{
			name: "unknown component lists known components",
			text: minimal + `components:
  openbao: {}
  traefik:
    version: "1"
`,
			wants: []want{e("10:3", `unknown component "traefik" in components`, "use one of: openbao, k3s, zot, prometheus")},
		},
		{
			name:  "unknown top-level key",
			text:  minimal + "cluser: {}\n",
			wants: []want{e("8:1", `unknown top-level key "cluser"`, "use one of: version, cluster, components")},
		},
		{
			name: "wrong types",
			text: `version: "1.0"
cluster:
  name: [prod]
  domain: example.com
  nodes:
    hostname: node1
components:
  openbao: {hosts: openbao1}
  k3s:
    ha: yes-please
  contour:
    replicas: two
`,
			wants: []want{
				e("3:9", "cluster.name must be a single value, not a list", "write it as name: value"),
				e("6:5", "cluster.nodes must be a list, not a mapping", "'- '"),
				e("8:20", "components.openbao.hosts must be a list", "'- '"),
				e("10:9", `components.k3s.ha must be true or false, not "yes-please"`, "ha: true"),
				e("12:15", `components.contour.replicas must be a whole number, not "two"`, "replicas: 2"),
			},
		},
		{
			name: "duplicate keys",
			text: minimal + `components:
  openbao: {}
  openbao: {}
`,
			wants: []want{e("10:3", "components.openbao is given twice (first on line 9)", "keep one")},
		},
		{
			name:  "several documents",
			text:  minimal + "---\nversion: \"1.0\"\n",
			wants: []want{e("8:1", "more than one YAML document", "one stack per file")},
		},
		{
			name:  "root is a list",
			text:  "- a\n- b\n",
			wants: []want{e("1:1", "must be a mapping of key: value lines, not a list", "foundry config init")},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ps := loadProblems(t, c.text, 0o600)
			assertProblems(t, p, ps, c.wants...)
		})
	}
}

func TestLoadEmptyFileSaysRunInit(t *testing.T) {
	for _, text := range []string{"", "# nothing yet\n"} {
		p, ps := loadProblems(t, text, 0o600)
		if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), p+": the file is empty") || !strings.Contains(ps[0].Fix, "foundry config init") {
			t.Errorf("%q: %s", text, ps)
		}
	}
}

func TestLoadMalformedYAMLIsAnErrorWithLine(t *testing.T) {
	cases := []struct{ text, at, msg string }{
		{"version: \"1.0\"\ncluster:\n  name: prod\n   domain: x\n", ":4: ", "mapping values are not allowed"},
		{"cluster:\n\tname: prod\n", ":2: ", "cannot start any token"},
		{"cluster: [a, b\n", ":1: ", "did not find expected"},
		{"cluster: *nothing\n", ": ", "unknown anchor"},
	}
	for _, c := range cases {
		p := writeFile(t, "bad.yaml", c.text, 0o600)
		_, err := Load(p)
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 {
			t.Errorf("%q: err = %v, want one Problem", c.text, err)
			continue
		}
		s := ps[0].String()
		if !strings.HasPrefix(s, p+c.at) || !strings.Contains(s, c.msg) || !strings.Contains(s, "fix the syntax") {
			t.Errorf("%q: %s; want prefix %q and %q", c.text, s, p+c.at, c.msg)
		}
	}
}

func TestLoadAliasExpansionIsBounded(t *testing.T) {
	// 100 nodes, each an alias of one node whose labels alias a mapping of
	// 3000 entries: 300000 nodes to visit from a file of a few KiB.
	var b strings.Builder
	b.WriteString("l: &l {")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	b.WriteString("}\nm: &m {hostname: a, role: worker, labels: *l}\ncluster:\n  nodes: [")
	for i := 0; i < 100; i++ {
		b.WriteString("*m, ")
	}
	b.WriteString("]\n")
	f, err := Parse("bomb.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	ps := f.Validate()
	found := false
	for _, p := range ps {
		found = found || strings.Contains(p.Message, "more than 100000 YAML nodes")
	}
	if !found {
		t.Fatalf("alias expansion was not bounded (%d problems)", len(ps))
	}
}

func TestLoadDirectoryIsAnError(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadRecordsMode(t *testing.T) {
	p := writeFile(t, "s.yaml", minimal, 0o640)
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Mode != 0o640 {
		t.Fatalf("mode %o", f.Mode)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}
