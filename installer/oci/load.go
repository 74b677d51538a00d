package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Annotations an OCI layout names its images with: crane writes the full
// reference as ref.name; containerd and Docker write it as
// io.containerd.image.name and only the tag as ref.name.
const (
	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// Image is one image (or multi-platform index) read from a file, with the
// reference it had where it was saved.
type Image struct {
	Source string         // the path it was read from
	Ref    name.Reference // docker.io/library/busybox:1.37, as saved
	Digest string         // sha256:… of its manifest as it will be pushed

	image v1.Image
	index v1.ImageIndex
}

// Name is the image's original reference in full.
func (i Image) Name() string { return i.Ref.Name() }

// Load reads the images in an OCI layout directory or an image tarball
// (`docker save` output). Every image must carry its reference: that is
// the name the mirror serves it under.
func Load(path string) ([]Image, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w; pass an OCI layout directory or an image tarball", err)
	}
	if st.IsDir() {
		return loadLayout(path)
	}
	kind, err := tarKind(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "docker":
		return loadTarball(path)
	case "oci":
		return nil, fmt.Errorf("%s is an OCI layout in a tar archive; extract it (mkdir d && tar -xf %s -C d) and import the directory", path, filepath.Base(path))
	}
	return nil, fmt.Errorf("%s is neither an OCI layout directory nor a `docker save` tarball (no manifest.json); save the image with crane pull --format=oci or docker save", path)
}

// tarKind looks at a tar's entries: "docker" with a manifest.json,
// "oci" with only an index.json, "" otherwise.
func tarKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	kind := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return kind, nil
		}
		if err != nil {
			return "", fmt.Errorf("read %s as a tar archive: %w; pass an uncompressed `docker save` tarball or an OCI layout directory", path, err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "manifest.json":
			return "docker", nil
		case "index.json":
			kind = "oci"
		}
	}
}

func loadLayout(dir string) ([]Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %w; save images with crane pull --format=oci", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read %s/index.json: %w", dir, err)
	}
	var out []Image
	for _, d := range m.Manifests {
		ref, err := layoutRef(d.Annotations)
		if err != nil {
			return nil, fmt.Errorf("%s: image %s: %w", dir, d.Digest, err)
		}
		img := Image{Source: dir, Ref: ref, Digest: d.Digest.String()}
		switch {
		case d.MediaType.IsIndex():
			if img.index, err = idx.ImageIndex(d.Digest); err != nil {
				return nil, fmt.Errorf("%s: read index %s: %w", dir, d.Digest, err)
			}
		case d.MediaType.IsImage():
			if img.image, err = idx.Image(d.Digest); err != nil {
				return nil, fmt.Errorf("%s: read image %s: %w", dir, d.Digest, err)
			}
		default:
			return nil, fmt.Errorf("%s: %s has media type %s, not an image or an index; save images only", dir, d.Digest, d.MediaType)
		}
		out = append(out, img)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no images (index.json lists none)", dir)
	}
	return out, nil
}

// layoutRef is the image's reference from its annotations. A ref.name
// that is only a tag (Docker's) names nothing without containerd's.
func layoutRef(a map[string]string) (name.Reference, error) {
	s := a[annotationContainerdName]
	if s == "" {
		s = a[annotationRefName]
		if s != "" && !strings.ContainsAny(s, "/:@") {
			s = ""
		}
	}
	if s == "" {
		return nil, fmt.Errorf("it has no reference (annotation %s); save it with crane pull --format=oci <image> <dir>, which names it", annotationRefName)
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("its reference %q does not parse: %w", s, err)
	}
	return ref, nil
}

func loadTarball(path string) ([]Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("read manifest.json of %s: %w", path, err)
	}
	var out []Image
	for _, d := range m {
		if len(d.RepoTags) == 0 {
			return nil, fmt.Errorf("%s holds an image without a name (%s); save it by name: docker save <image>:<tag>", path, d.Config)
		}
		for _, t := range d.RepoTags {
			tag, err := name.NewTag(t)
			if err != nil {
				return nil, fmt.Errorf("%s: tag %q does not parse: %w", path, t, err)
			}
			img, err := tarball.Image(opener, &tag)
			if err != nil {
				return nil, fmt.Errorf("%s: read %s: %w", path, t, err)
			}
			dg, err := img.Digest()
			if err != nil {
				return nil, fmt.Errorf("%s: digest of %s: %w", path, t, err)
			}
			out = append(out, Image{Source: path, Ref: tag, Digest: dg.String(), image: img})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}
