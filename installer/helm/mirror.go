package helm

import (
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// MirrorRef points an image reference at the registry mirror: the
// registry host is replaced and the path kept, as k3s's registries.yaml
// mirrors and Zot's sync expect (docker.io/grafana/grafana:13.2.0 becomes
// mirror:5000/grafana/grafana:13.2.0; busybox becomes
// mirror:5000/library/busybox).
func MirrorRef(mirror, ref string) string {
	if mirror == "" || ref == "" || strings.HasPrefix(ref, mirror+"/") {
		return ref
	}
	host, path := splitRegistry(ref)
	if host == "docker.io" && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return mirror + "/" + path
}

// splitRegistry splits "host[:port]/path" from a reference; Docker's rule:
// the first segment is a host when it has a '.' or ':' or is localhost.
func splitRegistry(ref string) (host, path string) {
	first, rest, ok := strings.Cut(ref, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first, rest
	}
	return "docker.io", ref
}

// MirrorValues are the value overrides that point every image of ch (and
// its enabled subcharts) at the mirror. Charts spell images in a few
// ways; found in the chart's own defaults, each image map
// ({registry, repository, tag}) gets registry = mirror, or, without a
// registry key, a repository rewritten by MirrorRef. Bitnami-style
// global.imageRegistry and global.image.registry are set too.
func MirrorValues(ch *chart.Chart, user Values, mirror string) (Values, error) {
	if mirror == "" {
		return Values{}, nil
	}
	merged, err := chartutil.CoalesceValues(ch, user)
	if err != nil {
		return nil, err
	}
	out := Values{}
	mirrorTree(merged, out, mirror)
	return out, nil
}

func mirrorTree(in map[string]any, out Values, mirror string) {
	for k, v := range in {
		if s, ok := v.(string); ok && k == "imageRegistry" && s != mirror {
			out[k] = mirror // cert-manager, Bitnami's global, Prometheus' global
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if o := mirrorImage(m, mirror); o != nil {
			out[k] = o
			continue
		}
		sub := Values{}
		if k == "global" {
			globalMirror(m, sub, mirror)
		}
		mirrorTree(m, sub, mirror)
		if len(sub) > 0 {
			out[k] = sub
		}
	}
}

// globalMirror handles the global settings some chart families read:
// Loki's global.image.registry, and Bitnami's refusal to render images it
// does not recognise (a mirror's are, by design, the same images).
func globalMirror(g map[string]any, out Values, mirror string) {
	if img, ok := g["image"].(map[string]any); ok {
		if _, ok := img["registry"]; ok {
			out["image"] = Values{"registry": mirror}
		}
	}
	if sec, ok := g["security"].(map[string]any); ok {
		if _, ok := sec["allowInsecureImages"]; ok {
			out["security"] = Values{"allowInsecureImages": true}
		}
	}
}

// mirrorImage returns the override for an image map, or nil when m is
// not one. With a registry key the chart joins registry and repository,
// so the registry becomes the mirror and the repository loses any host
// of its own; without one the repository is the whole reference.
func mirrorImage(m map[string]any, mirror string) Values {
	repo, ok := m["repository"].(string)
	if !ok || repo == "" {
		return nil
	}
	_, hasReg := m["registry"]
	_, hasTag := m["tag"]
	_, hasDigest := m["digest"]
	if !hasReg && !hasTag && !hasDigest {
		return nil
	}
	if !hasReg {
		return Values{"repository": MirrorRef(mirror, repo)}
	}
	if host, path := splitRegistry(repo); host != "docker.io" || strings.HasPrefix(repo, "docker.io/") {
		return Values{"registry": mirror, "repository": path}
	}
	return Values{"registry": mirror}
}

// mirrorContainers rewrites the image of every container spec written
// in the values themselves (Velero's plugin init container), which no
// chart default describes.
func mirrorContainers(v Values, mirror string) {
	for k, x := range v {
		switch t := x.(type) {
		case map[string]any:
			mirrorContainers(t, mirror)
		case []any:
			for _, e := range t {
				if c, ok := e.(map[string]any); ok {
					if img, ok := c["image"].(string); ok && c["name"] != nil && strings.Contains(k, "ontainers") {
						c["image"] = MirrorRef(mirror, img)
					}
					mirrorContainers(c, mirror)
				}
			}
		}
	}
}

// WithMirror returns values plus the mirror overrides for ch; the
// overrides only touch image keys, so they never conflict with values.
func WithMirror(ch *chart.Chart, values Values, mirror string) (Values, error) {
	o, err := MirrorValues(ch, values, mirror)
	if err != nil {
		return nil, err
	}
	out := chartutil.MergeTables(o, copyValues(values))
	if mirror != "" {
		mirrorContainers(out, mirror)
	}
	return out, nil
}

func copyValues(v Values) Values {
	out, _ := walk(v, func(s string) (string, error) { return s, nil })
	return out.(Values)
}
