package helm_test

import (
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
)

// Every image each real chart runs, with the full stack's values, is
// listed on the mirror with the upstream name it is pulled from on a
// machine with internet, and the rewrite of that name is the image.
func TestChartImagesOfEveryRealChartPairMirrorAndUpstream(t *testing.T) {
	files := chartstest.Files()
	cfg := fullStack()
	for _, c := range helm.Components() {
		t.Run(c.Name, func(t *testing.T) {
			ch, err := helm.LoadChart(chartstest.Archive(t, files[c.Name]), c.Chart, "")
			if err != nil {
				t.Fatal(err)
			}
			v, err := helm.ValuesFor(c.Name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			uses, err := helm.ChartImages(ch, helm.Redacted(v), mirror, helm.RenderOptions{Namespace: c.Namespace, Release: c.Release(), KubeVersion: "1.35.0"})
			if err != nil {
				t.Fatal(err)
			}
			if len(uses) == 0 {
				t.Fatal("no images")
			}
			for _, u := range uses {
				if !strings.HasPrefix(u.Image, mirror+"/") {
					t.Errorf("%s is not on the mirror", u.Image)
				}
				if u.Original == "" || strings.HasPrefix(u.Original, mirror) || helm.MirrorRef(mirror, u.Original) != u.Image {
					t.Errorf("%s: original %q", u.Image, u.Original)
				}
			}
		})
	}
}

// Grafana's own image by name, and without a mirror the images are the
// upstream ones, each its own original.
func TestChartImagesGrafana(t *testing.T) {
	ch, err := helm.LoadChart(chartstest.Archive(t, chartstest.Files()["grafana"]), "grafana", "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := helm.ValuesFor("grafana", fullStack())
	if err != nil {
		t.Fatal(err)
	}
	o := helm.RenderOptions{Namespace: "monitoring", Release: "grafana", KubeVersion: "1.35.0"}
	uses, err := helm.ChartImages(ch, helm.Redacted(v), mirror, o)
	if err != nil {
		t.Fatal(err)
	}
	want := helm.ImageUse{Image: mirror + "/grafana/grafana:" + ch.Metadata.AppVersion, Original: "docker.io/grafana/grafana:" + ch.Metadata.AppVersion}
	found := false
	for _, u := range uses {
		found = found || u == want
	}
	if !found {
		t.Fatalf("want %+v in %+v", want, uses)
	}
	plain, err := helm.ChartImages(ch, helm.Redacted(v), "", o)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != len(uses) {
		t.Fatalf("%d images without a mirror, %d with", len(plain), len(uses))
	}
	for _, u := range plain {
		if u.Image != u.Original || strings.HasPrefix(u.Image, mirror) {
			t.Errorf("without a mirror: %+v", u)
		}
	}
}

// Every cluster component's chart has an upstream to pull from (the pull
// itself needs internet and is not tested here).
func TestEveryChartHasAnUpstream(t *testing.T) {
	for _, c := range helm.Components() {
		if u, ok := helm.Upstream(c.Chart); !ok || !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "oci://")) {
			t.Errorf("%s: upstream %q", c.Chart, u)
		}
	}
}
