package component

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

func testEnv(t *testing.T, config string) (Env, func() string) {
	t.Helper()
	home := t.TempDir()
	path := ""
	if config != "" {
		path = filepath.Join(home, "stack.yaml")
		if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ios, _, out, _ := cmdutil.Test()
	return Env{IO: ios, Home: func() (string, error) { return home, nil }, ConfigPath: func() string { return path },
		Getenv: func(string) string { return "" }}, out.String
}

const stackYAML = `version: "1.0"
cluster:
  name: t
  domain: t.example.com
  nodes:
    - hostname: node1.t.example.com
      role: control-plane
components:
  openbao:
    hosts: [bao1.t.example.com]
    storage: file
  zot:
    flavor: distribution
    hosts: [reg1.t.example.com]
foundry:
  ssh_keys: file
`

func TestListShowsDependenciesAndWhatIsConfigured(t *testing.T) {
	env, out := testEnv(t, stackYAML)
	if err := listRun(context.Background(), &Options{Env: env, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Name        string   `json:"name"`
		Requires    []string `json:"requires"`
		Installable bool     `json:"installable"`
		Configured  *bool    `json:"configured"`
	}
	if err := json.Unmarshal([]byte(out()), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 12 || rows[0].Name != "openbao" {
		t.Fatalf("rows = %+v", rows)
	}
	by := map[string]int{}
	for i, r := range rows {
		by[r.Name] = i
	}
	if r := rows[by["zot"]]; !r.Installable || r.Configured == nil || !*r.Configured {
		t.Errorf("zot row = %+v", r)
	}
	if r := rows[by["grafana"]]; !r.Installable || strings.Join(r.Requires, ",") != "k3s,prometheus" || *r.Configured {
		t.Errorf("grafana row = %+v", r)
	}
}

func TestListWithoutAConfigStillLists(t *testing.T) {
	env, out := testEnv(t, "")
	if err := listRun(context.Background(), &Options{Env: env}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out(), "openbao") || !strings.Contains(out(), "grafana") {
		t.Fatalf("table:\n%s", out())
	}
}

func TestABrokenConfigIsRefusedWithTheFix(t *testing.T) {
	env, _ := testEnv(t, strings.Replace(stackYAML, "flavor: distribution", "flavor: quay", 1))
	_, err := env.Stack()
	if err == nil || !strings.Contains(err.Error(), "foundry config validate") {
		t.Fatalf("err = %v", err)
	}
}

// Every key a no-hosts message suggests must be one the schema takes:
// grafana's used to name components.grafana.hosts, which validate refuses.
func TestNoHostsMessagesSuggestValidKeys(t *testing.T) {
	cfg := strings.Replace(stackYAML, "foundry:\n", "  k3s: {}\n  prometheus: {}\n  grafana: {}\nfoundry:\n", 1)
	for _, tc := range []struct {
		cfg, name, want string
	}{
		// Helm installs grafana: the answer is about the cluster.
		{cfg, "grafana", "cluster"},
		{stackYAML, "grafana", "add components.grafana"},
		{strings.Replace(stackYAML, "    hosts: [reg1.t.example.com]\n", "", 1), "zot", "components.zot.hosts"},
	} {
		env, _ := testEnv(t, tc.cfg)
		for _, run := range []func(context.Context, *Options) error{statusRun, uninstallRun} {
			err := run(context.Background(), &Options{Env: env, Name: tc.name, ApplyOptions: ApplyOptions{Yes: true}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: err = %v, want it to say %q", tc.name, err, tc.want)
			}
			for _, key := range regexp.MustCompile(`components\.([a-z-]+)\.([a-z-]+)`).FindAllStringSubmatch(err.Error(), -1) {
				y := fmt.Sprintf("version: \"1.0\"\ncluster: {name: t, domain: t.example.com}\ncomponents:\n  %s:\n    %s: [x.example.com]\n", key[1], key[2])
				f, perr := stackconfig.Parse("s.yaml", []byte(y))
				if perr != nil || strings.Contains(f.Validate().Error(), "unknown key") {
					t.Fatalf("%s: message suggests %s, which the schema refuses: %v %v", tc.name, key[0], perr, f.Validate())
				}
			}
		}
	}
}
