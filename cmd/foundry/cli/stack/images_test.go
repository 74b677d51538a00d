package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
)

const imagesYAML = `version: "1.0"
cluster:
  name: t
  domain: t.example.com
  nodes:
    - hostname: node1.t.example.com
      role: control-plane
components:
  zot:
    hosts: [node1.t.example.com]
  openbao:
    hosts: [node1.t.example.com]
    storage: file
  k3s: {}
  contour:
    version: "21.1.4"
  cert-manager:
    version: v1.21.1
foundry:
  ssh_keys: file
`

// imagesOptions runs stack images on the real charts, with the registry
// at FOUNDRY_REGISTRY=registry.
func imagesOptions(t *testing.T, registry string) (*Options, *cmdutil.IOStreams) {
	t.Helper()
	home := t.TempDir()
	path := filepath.Join(home, "stack.yaml")
	if err := os.WriteFile(path, []byte(imagesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := cmdutil.Test()
	env := clicomp.Env{IO: ios, Home: func() (string, error) { return home, nil }, ConfigPath: func() string { return path },
		Getenv: func(k string) string {
			if k == clicomp.EnvRegistry {
				return registry
			}
			return ""
		}}
	env.Cluster.Chart = func(_ context.Context, chart, version string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(chartstest.Dir(t), chart+"-"+version+".tgz"))
		if err != nil {
			return nil, fmt.Errorf("chart %s %s is not imported; run foundry artifact import", chart, version)
		}
		return b, nil
	}
	return &Options{Env: env}, ios
}

// The images of the configured charts only (contour and cert-manager,
// not the seven others), through the mirror, with their upstream names.
func TestImagesListsConfiguredChartsThroughTheMirror(t *testing.T) {
	o, _ := imagesOptions(t, "10.77.0.1:5000")
	ios, _, out, _ := cmdutil.Test()
	o.IO, o.JSON = ios, true
	if err := imagesRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var rows []clicomp.ImageRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Component] = true
		if !strings.HasPrefix(r.Image, "10.77.0.1:5000/") || helm.MirrorRef("10.77.0.1:5000", r.Original) != r.Image {
			t.Errorf("row %+v", r)
		}
	}
	if len(seen) != 2 || !seen["contour"] || !seen["cert-manager"] {
		t.Fatalf("components %v", seen)
	}
	want := clicomp.ImageRow{Component: "cert-manager", Chart: "cert-manager", Version: "v1.21.1",
		ImageUse: helm.ImageUse{Image: "10.77.0.1:5000/jetstack/cert-manager-controller:v1.21.1", Original: "quay.io/jetstack/cert-manager-controller:v1.21.1"}}
	found := false
	for _, r := range rows {
		found = found || r == want
	}
	if !found {
		t.Fatalf("want %+v in\n%s", want, out.String())
	}

	// Piped: component, image, original per line.
	ios, _, out, _ = cmdutil.Test()
	o.IO, o.JSON = ios, false
	if err := imagesRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "cert-manager\t10.77.0.1:5000/jetstack/cert-manager-controller:v1.21.1\tquay.io/jetstack/cert-manager-controller:v1.21.1\n") {
		t.Fatalf("piped:\n%s", out.String())
	}
}

func TestImagesOfAChartNotImportedNameTheImport(t *testing.T) {
	o, _ := imagesOptions(t, "10.77.0.1:5000")
	o.Env.Cluster.Chart = func(_ context.Context, chart, version string) ([]byte, error) {
		return nil, fmt.Errorf("chart %s %s is not imported; run foundry artifact import", chart, version)
	}
	if err := imagesRun(context.Background(), o); err == nil || !strings.Contains(err.Error(), "foundry artifact import") {
		t.Fatalf("%v", err)
	}
}

func TestImagesFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	var got *Options
	cmd := NewCmdImages(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--json"})
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	if err := cmd.Execute(); err != nil || !got.JSON || got.Env.Cluster.Chart == nil {
		t.Fatalf("%v %+v", err, got)
	}
}
