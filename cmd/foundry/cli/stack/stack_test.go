package stack

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	comp "github.com/foundry-fleet/foundry/controller/component"
)

func TestValidatePrintsTheInstallOrder(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "stack.yaml")
	cfg := `version: "1.0"
cluster:
  name: t
  domain: t.example.com
  nodes:
    - hostname: node1.t.example.com
      role: control-plane
components:
  zot:
    version: "2.8.2"
    flavor: distribution
    hosts: [reg1.t.example.com]
  openbao:
    version: "2.1.0"
    hosts: [bao1.t.example.com]
    storage: file
  k3s:
    version: v1.28.5+k3s1
foundry:
  ssh_keys: file
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ := cmdutil.Test()
	o := &Options{Env: clicomp.Env{IO: ios, Home: func() (string, error) { return home, nil },
		ConfigPath: func() string { return path }, Getenv: func(string) string { return "" }}, JSON: true}
	if err := validateRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var v validation
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Order) != 3 || v.Order[0].Component != "openbao" || v.Order[1].Component != "k3s" || v.Order[2].Component != "zot" {
		t.Fatalf("order = %+v", v.Order)
	}
	if !v.Order[1].Installable || v.Order[1].Hosts[0] != "node1-t-example-com" || !v.Order[2].Installable || v.Order[2].Hosts[0] != "reg1-t-example-com" {
		t.Fatalf("entries = %+v", v.Order)
	}
}

// TestWavesRunOnlyIndependentReleasesTogether: stack install runs
// independent cluster components at once; host services, K3s and any
// release that needs another stay in later waves.
func TestWavesRunOnlyIndependentReleasesTogether(t *testing.T) {
	cs := comp.Catalog()
	var all []string
	for _, c := range cs {
		all = append(all, c.Name)
	}
	ordered, err := comp.Order(cs, all)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range waves(ordered) {
		var names []string
		for _, c := range w {
			names = append(names, c.Name)
		}
		got = append(got, strings.Join(names, "+"))
	}
	want := "openbao k3s zot minio contour+cert-manager+external-dns prometheus+loki grafana velero argocd"
	if strings.Join(got, " ") != want {
		t.Fatalf("waves:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
}
