package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	registrystandin "github.com/foundry-fleet/foundry/e2e/doubles/registry"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
)

// A chart imported for a cluster component lands in the artifact store,
// signed, and in the stack's registry (here the stand-in for Zot) with
// the same bytes; importing it again is harmless.
func TestChartImportPushesToZotStandIn(t *testing.T) {
	data := chartstest.Archive(t, "grafana-12.11.1.tgz")
	reg, err := registrystandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	r := helm.Registry{Host: reg.Host, PlainHTTP: true}
	c := ct.StartController(t)
	p := filepath.Join(t.TempDir(), "grafana-12.11.1.tgz")
	writeFile(t, p, data)
	ctx := context.Background()
	for range 2 {
		ios, _, out, errOut := cmdutil.Test()
		o := &ImportOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Component: "grafana", Version: "12.11.1", Path: p, JSON: true,
			Registry: func(context.Context, *client.Client) (helm.Registry, error) { return r, nil }}
		if err := importRun(ctx, o); err != nil {
			t.Fatalf("import: %v\n%s", err, errOut.String())
		}
		var res []importedJSON
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res) != 1 {
			t.Fatalf("--json: %v\n%s", err, out.String())
		}
		want := "oci://" + reg.Host + "/charts/grafana:12.11.1"
		if res[0].Registry != want || !strings.HasPrefix(res[0].RegistryDigest, "sha256:") || !res[0].Verified {
			t.Fatalf("import result %+v", res[0])
		}
		if !strings.Contains(errOut.String(), "grafana-12.11.1.tgz: pushed to "+want) {
			t.Fatalf("stderr %q", errOut.String())
		}
	}
	got, _, err := helm.PullChart(ctx, r, "grafana", "12.11.1")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("pull back: %d bytes, %v", len(got), err)
	}
}

// Without a registry the chart is still imported, and the CLI says where
// it is kept; an unreachable registry is a note too, not a failure.
func TestChartImportWithoutRegistryKeepsTheArtifact(t *testing.T) {
	data := chartstest.Archive(t, "grafana-12.11.1.tgz")
	c := ct.StartController(t)
	p := filepath.Join(t.TempDir(), "grafana-12.11.1.tgz")
	writeFile(t, p, data)
	for _, tc := range []struct {
		reg  func(context.Context, *client.Client) (helm.Registry, error)
		want string
	}{
		{func(context.Context, *client.Client) (helm.Registry, error) {
			return helm.Registry{}, clicomp.ErrNoRegistry
		}, "kept in the artifact store only"},
		{func(context.Context, *client.Client) (helm.Registry, error) {
			return helm.Registry{Host: "127.0.0.1:1", PlainHTTP: true}, nil
		}, "not pushed to the registry 127.0.0.1:1"},
	} {
		ios, _, out, errOut := cmdutil.Test()
		o := &ImportOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Component: "grafana", Version: "12.11.1", Path: p, Registry: tc.reg}
		if err := importRun(context.Background(), o); err != nil {
			t.Fatalf("import: %v", err)
		}
		if !strings.Contains(errOut.String(), tc.want) || !strings.HasPrefix(out.String(), "grafana/12.11.1/grafana-12.11.1.tgz\t") {
			t.Fatalf("stdout %q stderr %q, want %q", out.String(), errOut.String(), tc.want)
		}
	}
}

// A chart archive that is not the chart or version it is imported as, or
// is named other than installs look for, is refused before any upload.
func TestChartImportRefusesAMislabelledChart(t *testing.T) {
	data := chartstest.Archive(t, "grafana-12.11.1.tgz")
	dir := t.TempDir()
	good := filepath.Join(dir, "grafana-12.11.1.tgz")
	writeFile(t, good, data)
	asLoki := filepath.Join(dir, "loki-12.11.1.tgz")
	writeFile(t, asLoki, data)
	renamed := filepath.Join(t.TempDir(), "chart.tgz")
	writeFile(t, renamed, data)
	for _, tc := range []struct {
		o    ImportOptions
		want string
	}{
		{ImportOptions{Component: "grafana", Version: "12.12.0", Path: good}, "import it with --name grafana-12.12.0.tgz"},
		{ImportOptions{Component: "grafana", Version: "12.12.0", Path: good, Name: "grafana-12.12.0.tgz"}, "holds grafana 12.11.1, not 12.12.0"},
		{ImportOptions{Component: "loki", Version: "12.11.1", Path: asLoki}, `holds chart "grafana", not "loki"`},
		{ImportOptions{Component: "grafana", Version: "12.11.1", Path: renamed}, "import it with --name grafana-12.11.1.tgz"},
	} {
		ios, _, _, _ := cmdutil.Test()
		o := tc.o
		o.IO, o.Connect = ios, noConnect(t)
		o.Registry = func(context.Context, *client.Client) (helm.Registry, error) {
			t.Error("asked for the registry although the chart was refused")
			return helm.Registry{}, errors.New("no")
		}
		if err := importRun(context.Background(), &o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
	// Files of components the agents install are not charts, .tgz or not.
	bin := filepath.Join(t.TempDir(), "zot.tgz")
	if err := os.WriteFile(bin, []byte("not a chart"), 0o644); err != nil {
		t.Fatal(err)
	}
	if files, err := planImport(&ImportOptions{Component: "zot", Version: "2.1.0", Path: bin}); err != nil || files[0].chart != "" {
		t.Fatalf("a host component's .tgz: %+v %v", files, err)
	}
}

// artifact pull needs internet, so only what happens around the download
// is tested: a component without a chart is refused, the chart's name
// (argo-cd for argocd) is what is pulled, and the import command to run
// next names the version the archive holds.
func TestPullRefusesHostComponentsAndNamesTheImport(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	err := pullRun(context.Background(), &PullOptions{IO: ios, Component: "zot", Pull: func(string, string, string) (string, error) {
		t.Error("pulled a host component")
		return "", errors.New("no")
	}})
	if err == nil || !strings.Contains(err.Error(), "not a cluster component") {
		t.Fatalf("zot: %v", err)
	}
	dir := t.TempDir()
	ios, _, out, errOut := cmdutil.Test()
	var asked string
	err = pullRun(context.Background(), &PullOptions{IO: ios, Component: "grafana", Dir: dir, Pull: func(chart, version, d string) (string, error) {
		asked = chart + "@" + version + " " + d
		p := filepath.Join(d, "grafana-12.11.1.tgz")
		return p, os.WriteFile(p, chartstest.Archive(t, "grafana-12.11.1.tgz"), 0o644)
	}})
	if err != nil || asked != "grafana@ "+dir {
		t.Fatalf("pull: %v, asked %q", err, asked)
	}
	p := filepath.Join(dir, "grafana-12.11.1.tgz")
	if out.String() != p+"\n" || !strings.Contains(errOut.String(), "next: foundry artifact import grafana 12.11.1 "+p) {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
	if _, ok := helm.Upstream(chartOf("argocd")); !ok || chartOf("argocd") != "argo-cd" {
		t.Fatal("argocd's chart has no upstream")
	}
}
