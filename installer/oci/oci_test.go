package oci_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	registrystandin "github.com/foundry-fleet/foundry/e2e/doubles/registry"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/oci"
	"github.com/foundry-fleet/foundry/installer/oci/ocitest"
)

// startZotStandIn runs the registry stand-in for Zot on loopback.
func startZotStandIn(t *testing.T) helm.Registry {
	t.Helper()
	s, err := registrystandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return helm.Registry{Host: s.Host, PlainHTTP: true}
}

// The target name is the one the chart mirror rewrite gives, so the
// images pushed are the ones the rewritten charts ask for.
func TestTargetIsTheMirrorRewrite(t *testing.T) {
	r := helm.Registry{Host: "10.77.0.1:5000", PlainHTTP: true}
	for _, s := range []string{
		"busybox", "busybox:1.37", "docker.io/grafana/grafana:13.2.0", "index.docker.io/library/alpine:3",
		"quay.io/jetstack/cert-manager-controller:v1.21.1", "registry.k8s.io/external-dns/external-dns:v0.20.0",
		"ghcr.io/example/app@sha256:" + strings.Repeat("a", 64),
	} {
		ref, err := name.ParseReference(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := oci.Target(r, ref)
		if err != nil {
			t.Fatal(err)
		}
		want := helm.MirrorRef(r.Host, s)
		if s == "busybox" {
			want += ":latest" // the default tag, which the chart would spell out
		}
		if strings.HasPrefix(s, "index.docker.io/") {
			want = r.Host + "/library/alpine:3"
		}
		if got.Name() != want {
			t.Errorf("%s: target %s, mirror rewrite %s", s, got.Name(), want)
		}
	}
}

// An image saved as an OCI layout and as a docker tarball is pushed to
// the stand-in for Zot under its mirror name, once: re-running skips it,
// and --dry-run pushes nothing.
func TestPushToZotStandInIsIdempotent(t *testing.T) {
	reg := startZotStandIn(t)
	ctx := context.Background()
	img, err := ocitest.Image(map[string][]byte{"hello": []byte("hello from foundry\n")}, "/hello")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ocitest.Image(map[string][]byte{"other": []byte("another image\n")}, "/other")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lay := filepath.Join(dir, "layout")
	if err := ocitest.WriteLayout(lay, map[string]v1.Image{"quay.io/foundry/hello:1.0": img}); err != nil {
		t.Fatal(err)
	}
	tb := filepath.Join(dir, "images.tar")
	if err := ocitest.WriteTarball(tb, map[string]v1.Image{"foundry/other:2.0": other}); err != nil {
		t.Fatal(err)
	}
	var imgs []oci.Image
	for _, p := range []string{lay, tb} {
		got, err := oci.Load(p)
		if err != nil {
			t.Fatalf("load %s: %v", p, err)
		}
		imgs = append(imgs, got...)
	}
	if len(imgs) != 2 || imgs[0].Name() != "quay.io/foundry/hello:1.0" || imgs[1].Name() != "index.docker.io/foundry/other:2.0" {
		t.Fatalf("loaded %+v", imgs)
	}
	want, _ := img.Digest()
	if imgs[0].Digest != want.String() {
		t.Fatalf("layout digest %s, built %s", imgs[0].Digest, want)
	}

	res, err := oci.Push(ctx, reg, imgs, oci.Options{DryRun: true})
	if err != nil || len(res) != 2 || res[0].Status != oci.WouldPush || res[1].Status != oci.WouldPush {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if _, err := remote.Head(parse(t, reg.Host+"/foundry/hello:1.0")); err == nil {
		t.Fatal("--dry-run pushed")
	}

	var mu sync.Mutex
	var last oci.Progress
	res, err = oci.Push(ctx, reg, imgs, oci.Options{Progress: func(p oci.Progress) { mu.Lock(); last = p; mu.Unlock() }})
	if err != nil || len(res) != 2 || res[0].Status != oci.Pushed || res[1].Status != oci.Pushed {
		t.Fatalf("push: %+v %v", res, err)
	}
	if res[0].Target != reg.Host+"/foundry/hello:1.0" || res[1].Target != reg.Host+"/foundry/other:2.0" {
		t.Fatalf("targets: %+v", res)
	}
	mu.Lock()
	if last.Image != imgs[1].Name() || last.Size == 0 || last.Complete == 0 {
		t.Errorf("last progress %+v", last)
	}
	mu.Unlock()
	for _, r := range res {
		byDigest := parse(t, r.Target).Context().Digest(r.Digest)
		d, err := remote.Head(byDigest)
		if err != nil || d.Digest.String() != r.Digest {
			t.Fatalf("%s by digest: %+v %v", r.Target, d, err)
		}
	}

	res, err = oci.Push(ctx, reg, imgs, oci.Options{})
	if err != nil || res[0].Status != oci.Present || res[1].Status != oci.Present {
		t.Fatalf("re-push: %+v %v", res, err)
	}
}

func TestLoadRefusesWhatItCannotName(t *testing.T) {
	img, err := ocitest.Image(map[string][]byte{"f": []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lay := filepath.Join(dir, "layout")
	if err := ocitest.WriteLayout(lay, map[string]v1.Image{"latest": img}); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.Load(lay); err == nil || !strings.Contains(err.Error(), "crane pull --format=oci") {
		t.Fatalf("unnamed layout image: %v", err)
	}
	junk := filepath.Join(dir, "junk.tar")
	if err := os.WriteFile(junk, []byte("not a tar at all, not at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := oci.Load(junk); err == nil || !strings.Contains(err.Error(), "docker save") {
		t.Fatalf("junk: %v", err)
	}
	if _, err := oci.Load(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "pass an OCI layout directory") {
		t.Fatalf("missing: %v", err)
	}
}

func parse(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
