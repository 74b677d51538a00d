// Package ocitest builds small real container images for tests, so no
// test needs to download one: an empty image plus one layer with the
// given files, written as an OCI layout (like `crane pull --format=oci`)
// or as a tarball (like `docker save`).
package ocitest

import (
	"archive/tar"
	"bytes"
	"io"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image is empty.Image with one layer holding files (path → content,
// mode 0755 so a static binary runs) and cmd as its entrypoint.
func Image(files map[string][]byte, cmd ...string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o755, Size: int64(len(files[p])), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = cmd
	return mutate.ConfigFile(img, cf)
}

// WriteLayout writes images into a new OCI layout at dir, each annotated
// with its reference the way crane pull does.
func WriteLayout(dir string, imgs map[string]v1.Image) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	refs := make([]string, 0, len(imgs))
	for r := range imgs {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	for _, r := range refs {
		if err := p.AppendImage(imgs[r], layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": r})); err != nil {
			return err
		}
	}
	return nil
}

// WriteTarball writes images (tag → image) as one `docker save` tarball.
func WriteTarball(path string, imgs map[string]v1.Image) error {
	m := map[name.Tag]v1.Image{}
	for r, img := range imgs {
		t, err := name.NewTag(r)
		if err != nil {
			return err
		}
		m[t] = img
	}
	return tarball.MultiWriteToFile(path, m)
}
