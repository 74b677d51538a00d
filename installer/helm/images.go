package helm

import (
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
)

// ImageUse is one image a chart runs: Image as the cluster pulls it (after
// the mirror rewrite), Original as upstream names it, which is what an
// operator pulls on a machine with internet. Original is "" when no
// render without the mirror names it (rare: a chart that builds the name
// differently once a registry is set).
type ImageUse struct {
	Image    string `json:"image"`
	Original string `json:"original"`
}

// ChartImages lists the images ch runs with values, rendered once with
// the mirror overrides (what is pulled) and once without (the upstream
// names), hooks included. values may hold <secret> placeholders: images
// never depend on secrets.
func ChartImages(ch *chart.Chart, values Values, mirror string, o RenderOptions) ([]ImageUse, error) {
	pulled, err := renderImages(ch, values, mirror, o)
	if err != nil {
		return nil, err
	}
	upstream := pulled
	if mirror != "" {
		if upstream, err = renderImages(ch, values, "", o); err != nil {
			return nil, err
		}
	}
	return pairImages(pulled, upstream, mirror), nil
}

func renderImages(ch *chart.Chart, values Values, mirror string, o RenderOptions) ([]string, error) {
	v, err := WithMirror(ch, values, mirror)
	if err != nil {
		return nil, err
	}
	rel, err := Render(ch, v, o)
	if err != nil {
		return nil, err
	}
	objs, err := Objects(ReleaseText(rel), o.Namespace)
	if err != nil {
		return nil, err
	}
	return Images(objs), nil
}

// pairImages matches each pulled image with the upstream one the mirror
// rewrite turns into it. A pulled image off the mirror is its own
// original: the chart ignored the rewrite and the node pulls it as named
// (k3s's registries.yaml may still send it to the mirror).
func pairImages(pulled, upstream []string, mirror string) []ImageUse {
	orig := map[string]string{}
	for _, u := range upstream {
		if m := MirrorRef(mirror, u); orig[m] == "" {
			orig[m] = u
		}
	}
	out := make([]ImageUse, 0, len(pulled))
	for _, p := range pulled {
		u := ImageUse{Image: p, Original: orig[p]}
		if u.Original == "" && (mirror == "" || !strings.HasPrefix(p, mirror+"/")) {
			u.Original = p
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image < out[j].Image })
	return out
}
