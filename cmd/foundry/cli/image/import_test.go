package image

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	registrystandin "github.com/foundry-fleet/foundry/e2e/doubles/registry"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/oci"
	"github.com/foundry-fleet/foundry/installer/oci/ocitest"
)

func TestImportFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	var got *ImportOptions
	cmd := NewCmdImport(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *ImportOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"a.tar", "dir", "--registry", "10.77.0.1:5000", "--dry-run", "--json"})
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Paths, ",") != "a.tar,dir" || got.Registry != "10.77.0.1:5000" || !got.DryRun || !got.JSON {
		t.Fatalf("options %+v", got)
	}
	cmd = NewCmdImport(&cmdutil.Factory{IO: ios}, func(context.Context, *ImportOptions) error { return nil })
	cmd.SetArgs(nil)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	if err := cmd.Execute(); err == nil {
		t.Fatal("no paths accepted")
	}
}

// Both saved forms go into the stand-in for Zot; a dry run pushes
// nothing, a re-run skips what is there, per image on stderr.
func TestImportIntoZotStandIn(t *testing.T) {
	reg, err := registrystandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	img, err := ocitest.Image(map[string][]byte{"hello": []byte("hi\n")}, "/hello")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lay, tb := filepath.Join(dir, "lay"), filepath.Join(dir, "img.tar")
	if err := ocitest.WriteLayout(lay, map[string]v1.Image{"ghcr.io/foundry/hello:1": img}); err != nil {
		t.Fatal(err)
	}
	if err := ocitest.WriteTarball(tb, map[string]v1.Image{"docker.io/foundry/hello:2": img}); err != nil {
		t.Fatal(err)
	}
	stack := func(context.Context) (helm.Registry, error) {
		return helm.Registry{Host: reg.Host, PlainHTTP: true}, nil
	}
	run := func(dry bool) []oci.Result {
		t.Helper()
		ios, _, out, errOut := cmdutil.Test()
		if err := importRun(context.Background(), &ImportOptions{IO: ios, Paths: []string{lay, tb}, DryRun: dry, JSON: true, StackRegistry: stack}); err != nil {
			t.Fatalf("import: %v\n%s", err, errOut.String())
		}
		var res []oci.Result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res) != 2 {
			t.Fatalf("--json: %v\n%s", err, out.String())
		}
		if !strings.Contains(errOut.String(), "[1/2] ghcr.io/foundry/hello:1 ("+lay+")") || !strings.Contains(errOut.String(), "[2/2] "+reg.Host+"/foundry/hello:2: ") {
			t.Fatalf("progress:\n%s", errOut.String())
		}
		return res
	}
	if res := run(true); res[0].Status != oci.WouldPush || res[1].Status != oci.WouldPush {
		t.Fatalf("dry run %+v", res)
	}
	if res := run(false); res[0].Status != oci.Pushed || res[1].Status != oci.Pushed || res[0].Target != reg.Host+"/foundry/hello:1" {
		t.Fatalf("push %+v", res)
	}
	if res := run(false); res[0].Status != oci.Present || res[1].Status != oci.Present {
		t.Fatalf("re-run %+v", res)
	}
	// Piped: tab-separated rows.
	ios, _, out, _ := cmdutil.Test()
	if err := importRun(context.Background(), &ImportOptions{IO: ios, Paths: []string{lay}, StackRegistry: stack}); err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()
	if want := "ghcr.io/foundry/hello:1\t" + reg.Host + "/foundry/hello:1\t" + dg.String() + "\tpresent\n"; out.String() != want {
		t.Fatalf("piped %q, want %q", out.String(), want)
	}
}

func TestImportErrorsSayWhatToDo(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	err := importRun(context.Background(), &ImportOptions{IO: ios, Paths: []string{filepath.Join(t.TempDir(), "nope")}})
	if err == nil || !strings.Contains(err.Error(), "pass an OCI layout directory or an image tarball") {
		t.Fatalf("missing file: %v", err)
	}
	img, _ := ocitest.Image(map[string][]byte{"f": []byte("x")})
	lay := filepath.Join(t.TempDir(), "lay")
	if err := ocitest.WriteLayout(lay, map[string]v1.Image{"foundry/x:1": img}); err != nil {
		t.Fatal(err)
	}
	err = importRun(context.Background(), &ImportOptions{IO: ios, Paths: []string{lay}, Registry: "nohostport"})
	if err == nil || !strings.Contains(err.Error(), "pass host:port") {
		t.Fatalf("bad --registry: %v", err)
	}
	noReg := func(context.Context) (helm.Registry, error) {
		return helm.Registry{}, errors.New("the stack has no registry: add components.zot")
	}
	err = importRun(context.Background(), &ImportOptions{IO: ios, Paths: []string{lay}, StackRegistry: noReg})
	if err == nil || !strings.Contains(err.Error(), "add components.zot") {
		t.Fatalf("no registry: %v", err)
	}
	err = importRun(context.Background(), &ImportOptions{IO: ios, Paths: []string{lay}, Registry: "127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "check that it runs") {
		t.Fatalf("registry down: %v", err)
	}
}
