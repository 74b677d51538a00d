// Package imagetest runs `foundry image import` against the stand-in for
// Zot (e2e/doubles/registry: go-containerregistry's in-process registry,
// since Zot cannot run here) listening on the hosts' bridge, and pulls the
// image back by digest from a real test host. It is not in package e2e,
// whose TestMain boots four hosts; this needs one.
package imagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	imagecmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/image"
	registrystandin "github.com/foundry-fleet/foundry/e2e/doubles/registry"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/installer/oci"
	"github.com/foundry-fleet/foundry/installer/oci/ocitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := harness.Down(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "imagetest: taking the hosts down: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// fetchScript prints the body of GET http://hostport/path with accept as
// the Accept header, with curl or wget when the host has one, else over
// bash's /dev/tcp (HTTP/1.0, so the body is neither chunked nor kept
// alive). It is a pure function of its inputs, none of which is secret.
func fetchScript(hostport, path, accept string) string {
	host, port, _ := net.SplitHostPort(hostport)
	url := "http://" + hostport + path
	return fmt.Sprintf(`set -e
if command -v curl >/dev/null; then exec curl -fsS -H 'Accept: %[3]s' '%[4]s'; fi
if command -v wget >/dev/null; then exec wget -qO- --header='Accept: %[3]s' '%[4]s'; fi
exec bash -c 'exec 3<>/dev/tcp/%[1]s/%[2]s
printf "GET %[5]s HTTP/1.0\r\nHost: %[1]s:%[2]s\r\nAccept: %[3]s\r\n\r\n" >&3
IFS= read -r status <&3
case "$status" in *" 200 "*) ;; *) echo "$status" >&2; exit 1;; esac
while IFS= read -r line <&3; do [ "$line" = $(printf "\r") ] && break; [ -z "$line" ] && break; done
cat <&3'
`, host, port, accept, url, path)
}

func TestImageImportIntoZotStandInPulledBackByDigestOnAHost(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots a test host")
	}
	h := harness.Hosts(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reg, err := registrystandin.Start(harness.ControllerIP + ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })

	// An image this test builds: one layer with a file whose content is
	// new on every run, so nothing could have been there before.
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	content := "hello from foundry e2e " + hex.EncodeToString(nonce) + "\n"
	img, err := ocitest.Image(map[string][]byte{"hello": []byte(content)}, "/hello")
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layerDigest, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lay, tb := filepath.Join(dir, "layout"), filepath.Join(dir, "image.tar")
	if err := ocitest.WriteLayout(lay, map[string]v1.Image{"quay.io/foundry-e2e/hello:1.0": img}); err != nil {
		t.Fatal(err)
	}
	if err := ocitest.WriteTarball(tb, map[string]v1.Image{"foundry-e2e/hello-tar:1.0": img}); err != nil {
		t.Fatal(err)
	}

	importCLI := func(args ...string) []oci.Result {
		t.Helper()
		ios, _, out, errOut := cmdutil.Test()
		cmd := imagecmd.NewCmdImage(&cmdutil.Factory{IO: ios})
		cmd.SetArgs(append([]string{"import", "--registry", reg.Host, "--json"}, args...))
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("image import %v: %v\n%s", args, err, errOut.String())
		}
		var res []oci.Result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("--json: %v\n%s", err, out.String())
		}
		t.Logf("image import:\n%s", errOut.String())
		return res
	}
	res := importCLI(lay, tb)
	if len(res) != 2 || res[0].Status != oci.Pushed || res[1].Status != oci.Pushed {
		t.Fatalf("import: %+v", res)
	}
	if res[0].Target != reg.Host+"/foundry-e2e/hello:1.0" || res[1].Target != reg.Host+"/foundry-e2e/hello-tar:1.0" {
		t.Fatalf("targets: %+v", res)
	}
	// Idempotent: the second run pushes nothing.
	if again := importCLI(lay, tb); again[0].Status != oci.Present || again[1].Status != oci.Present {
		t.Fatalf("re-import: %+v", again)
	}

	tools, _, _, _ := harness.Exec(ctx, h, "for t in curl wget bash; do command -v $t; done; true")
	t.Logf("fetch tools on %s: %q (the first of curl, wget, bash is used)", h.Name, tools)
	// On the host: the manifest by digest, then its layer blob by digest,
	// each checked with the host's own sha256sum, and the file inside.
	for _, r := range res {
		repo := strings.TrimPrefix(strings.SplitN(r.Target, ":", 3)[0]+":"+strings.SplitN(r.Target, ":", 3)[1], reg.Host+"/")
		mpath := "/v2/" + repo + "/manifests/" + r.Digest
		accept := "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
		sum := harness.MustExec(t, ctx, h, "("+fetchScript(reg.Host, mpath, accept)+") | sha256sum")
		if got := "sha256:" + strings.Fields(sum)[0]; got != r.Digest {
			t.Fatalf("%s: the host got a manifest with digest %s, want %s", mpath, got, r.Digest)
		}
		manifest := harness.MustExec(t, ctx, h, fetchScript(reg.Host, mpath, accept))
		if !strings.Contains(manifest, layerDigest.String()) && r.Image == "quay.io/foundry-e2e/hello:1.0" {
			t.Fatalf("manifest does not name the layer %s:\n%s", layerDigest, manifest)
		}
		var m v1.Manifest
		if err := json.Unmarshal([]byte(manifest), &m); err != nil || len(m.Layers) != 1 {
			t.Fatalf("manifest from the host: %v\n%s", err, manifest)
		}
		bpath := "/v2/" + repo + "/blobs/" + m.Layers[0].Digest.String()
		blob := "/tmp/foundry-e2e-layer"
		got := harness.MustExec(t, ctx, h, "("+fetchScript(reg.Host, bpath, "*/*")+") > "+blob+" && sha256sum "+blob+" && tar -xzOf "+blob+" hello && rm -f "+blob)
		lines := strings.SplitN(got, "\n", 2)
		if "sha256:"+strings.Fields(lines[0])[0] != m.Layers[0].Digest.String() || len(lines) != 2 || lines[1] != content {
			t.Fatalf("%s on the host:\n%s\nwant digest %s and %q", bpath, got, m.Layers[0].Digest, content)
		}
	}
}
