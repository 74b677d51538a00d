package component

import (
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/messages"
)

func names(cs []Component) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func TestCatalogIsValidAndFollowsTheSeedOrder(t *testing.T) {
	cs := Catalog()
	if err := Validate(cs); err != nil {
		t.Fatal(err)
	}
	all := names(cs)
	got, err := Order(cs, []string{"argocd", "grafana", "zot", "k3s", "openbao", "velero", "minio", "contour", "prometheus", "loki", "cert-manager", "external-dns"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range names(got) {
		pos[n] = i
	}
	// The seed's order: OpenBAO, K3s, Zot, storage, networking,
	// observability, backup, CI/CD.
	chain := [][]string{{"openbao"}, {"k3s"}, {"zot"}, {"minio"}, {"contour", "cert-manager", "external-dns"},
		{"prometheus", "loki", "grafana"}, {"velero"}, {"argocd"}}
	for i := 1; i < len(chain); i++ {
		for _, a := range chain[i-1] {
			for _, b := range chain[i] {
				if pos[a] >= pos[b] {
					t.Errorf("%s must come before %s in %v", a, b, names(got))
				}
			}
		}
	}
	if len(all) != 12 {
		t.Errorf("catalog has %d components, want the 12 of the stack: %v", len(all), all)
	}
}

func TestOrderOfASubsetKeepsOnlyWhatWasAsked(t *testing.T) {
	got, err := Order(Catalog(), []string{"zot", "openbao"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names(got), ",") != "openbao,zot" {
		t.Fatalf("order = %v, want openbao then zot", names(got))
	}
}

func TestCycleIsAValidationError(t *testing.T) {
	cs := []Component{
		{Name: "a", Requires: []string{"b"}},
		{Name: "b", After: []string{"c"}},
		{Name: "c", Requires: []string{"a"}},
	}
	err := Validate(cs)
	if err == nil || !strings.Contains(err.Error(), "a -> b -> c -> a") {
		t.Fatalf("Validate = %v, want the cycle a -> b -> c -> a", err)
	}
	if _, err := Order(cs, []string{"a"}); err == nil {
		t.Fatal("Order accepted a cyclic catalog")
	}
}

func TestUnknownDependencyAndDuplicatesAreErrors(t *testing.T) {
	if err := Validate([]Component{{Name: "a", Requires: []string{"nope"}}}); err == nil || !strings.Contains(err.Error(), `unknown component "nope"`) {
		t.Fatalf("Validate = %v", err)
	}
	if err := Validate([]Component{{Name: "a"}, {Name: "a"}}); err == nil {
		t.Fatal("duplicate names accepted")
	}
	if _, err := Find(Catalog(), "nginx"); err == nil || !strings.Contains(err.Error(), "foundry component list") {
		t.Fatalf("Find = %v", err)
	}
}

func TestMissingRequirements(t *testing.T) {
	k3s, _ := Find(Catalog(), "grafana")
	if got := Missing(k3s, []string{"k3s"}); len(got) != 1 || got[0] != "prometheus" {
		t.Fatalf("Missing = %v, want [prometheus]", got)
	}
}

func TestNewestSkipsPreReleaseOverRelease(t *testing.T) {
	var arts []messages.Artifact
	for _, v := range []string{"2.1.0-rc1", "2.1.0", "2.0.5"} {
		arts = append(arts, messages.Artifact{ArtifactRef: messages.ArtifactRef{Component: "openbao", Version: v, File: "bao"}, Verified: true})
	}
	if got := Newest(arts, "openbao", "bao"); got != "2.1.0" {
		t.Fatalf("Newest = %s, want the release 2.1.0 over its candidate", got)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2.1.0", "2.10.0", -1}, {"2.2.0", "2.1.9", 1}, {"2.1.0", "2.1.0", 0},
		{"v1.28.5+k3s1", "v1.28.5+k3s2", -1}, {"1.0", "1.0.1", -1}, {"2.8.2", "2.8.10", -1},
		// Pre-releases come before their release, whatever their text says.
		{"2.1.0-rc1", "2.1.0", -1}, {"2.1.0", "2.1.0-rc1", 1}, {"2.1.0-rc1", "2.1.0-rc2", -1},
		{"2.1.0-alpha", "2.1.0-beta", -1}, {"2.1.0-rc1", "2.0.9", 1}, {"2.1.0-rc2", "2.1.0-rc10", -1},
		// k3s releases: the +k3sN suffix orders releases of one Kubernetes version.
		{"v1.35.4+k3s1", "v1.35.4+k3s2", -1}, {"v1.35.4+k3s2", "v1.35.4+k3s10", -1},
		{"v1.35.4+k3s1", "v1.35.10+k3s1", -1}, {"v1.35.4-rc1+k3s1", "v1.35.4+k3s1", -1},
		{"v1.35.4+k3s1", "v1.35.4+k3s1", 0},
		// Labels semver cannot read still order by their numeric runs.
		{"2024.01.15-build7", "2024.01.15-build12", -1}, {"nightly-9", "nightly-10", -1},
	} {
		got := CompareVersions(c.a, c.b)
		if (got < 0) != (c.want < 0) || (got > 0) != (c.want > 0) {
			t.Errorf("CompareVersions(%s, %s) = %d, want sign %d", c.a, c.b, got, c.want)
		}
	}
}
