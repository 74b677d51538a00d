package component

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/messages"
)

// Target is a host component resolved against the stack config and the
// artifact store: which version goes on which hosts, as one service spec.
type Target struct {
	Component Component
	Desired   Desired
	Spec      messages.ServiceSpec
}

// Overrides come from flags and win over the config.
type Overrides struct {
	Version string
	Hosts   []string
}

// Resolve builds the target for c. A version left open (no flag, none in
// the config) is the newest one imported, since hosts have no internet
// to find "latest" on.
func Resolve(cfg *config.Config, c Component, o Overrides, arts []messages.Artifact) (Target, error) {
	if c.Placement == Nodes {
		return Target{}, fmt.Errorf("component %s is installed on the cluster's nodes by foundry cluster init (or foundry stack install)", c.Name)
	}
	if c.Placement == Cluster {
		return Target{}, fmt.Errorf("component %s is a Helm release on the cluster, not a host service; install it with foundry component install %s", c.Name, c.Name)
	}
	if !c.Installable() {
		return Target{}, fmt.Errorf("component %s cannot be installed by Foundry yet", c.Name)
	}
	d, ok := c.Desired(cfg)
	if !ok {
		return Target{}, fmt.Errorf("component %s is not in the stack config; add components.%s to it", c.Name, c.Name)
	}
	if o.Version != "" {
		d.Version = o.Version
	}
	if len(o.Hosts) > 0 {
		d.Hosts = hostIDs(o.Hosts)
	}
	if len(d.Hosts) == 0 {
		return Target{}, fmt.Errorf("component %s has no hosts; list them under components.%s.hosts or pass --host", c.Name, c.Name)
	}
	file := c.ArtifactFile(d)
	if d.Version == "" {
		d.Version = Newest(arts, c.Name, file)
		if d.Version == "" {
			return Target{}, fmt.Errorf("no %s artifact is imported; run foundry artifact import %s <version> <path to %s>", c.Name, c.Name, file)
		}
	}
	if err := messages.ValidVersion(d.Version); err != nil {
		return Target{}, err
	}
	art, err := findArtifact(arts, c.Name, d.Version, file)
	if err != nil {
		return Target{}, err
	}
	spec, err := c.Service(cfg, d, art)
	if err != nil {
		return Target{}, err
	}
	if err := spec.Validate(); err != nil {
		return Target{}, fmt.Errorf("component %s: %w", c.Name, err)
	}
	return Target{Component: c, Desired: d, Spec: spec}, nil
}

func findArtifact(arts []messages.Artifact, component, version, file string) (messages.ArtifactRef, error) {
	for _, a := range arts {
		if a.Component == component && a.Version == version && a.File == file {
			if !a.Verified {
				return messages.ArtifactRef{}, fmt.Errorf("artifact %s is not usable (%s)", a.ObjectName(), a.Problem)
			}
			return a.ArtifactRef, nil
		}
	}
	return messages.ArtifactRef{}, fmt.Errorf("artifact %s is not imported; run foundry artifact import %s %s <path to %s>",
		messages.ArtifactObjectName(component, version, file), component, version, file)
}

// Newest is the highest imported version of component's file, or "".
func Newest(arts []messages.Artifact, component, file string) string {
	best := ""
	for _, a := range arts {
		if a.Component == component && a.File == file && a.Verified && (best == "" || CompareVersions(a.Version, best) > 0) {
			best = a.Version
		}
	}
	return best
}

// CompareVersions orders versions by semantic versioning where both parse
// (so 2.1.0-rc1 < 2.1.0 and 2.1.0 < 2.10.0), breaking ties on build
// metadata like k3s's v1.28.5+k3s1 < v1.28.5+k3s2, which semver ignores but
// k3s uses for real releases. Pre-release labels compare numeric runs as
// numbers (rc2 < rc10). Labels semver cannot read fall back to
// comparing numeric runs as numbers and the rest as text.
func CompareVersions(a, b string) int {
	va, erra := semver.NewVersion(a)
	vb, errb := semver.NewVersion(b)
	if erra != nil || errb != nil {
		return compareTokens(a, b)
	}
	core := func(v *semver.Version) *semver.Version { c, _ := v.SetPrerelease(""); return &c }
	if c := core(va).Compare(core(vb)); c != 0 {
		return c
	}
	switch pa, pb := va.Prerelease(), vb.Prerelease(); {
	case pa == "" && pb != "":
		return 1
	case pa != "" && pb == "":
		return -1
	case pa != pb:
		// Release candidates are numbered by people: rc10 follows rc2,
		// where semver's text order would put it first.
		return compareTokens(pa, pb)
	}
	return compareTokens(va.Metadata(), vb.Metadata())
}

func compareTokens(a, b string) int {
	ta, tb := tokens(strings.TrimPrefix(a, "v")), tokens(strings.TrimPrefix(b, "v"))
	for i := 0; i < len(ta) && i < len(tb); i++ {
		x, errx := strconv.Atoi(ta[i])
		y, erry := strconv.Atoi(tb[i])
		switch {
		case errx == nil && erry == nil && x != y:
			if x < y {
				return -1
			}
			return 1
		case (errx != nil || erry != nil) && ta[i] != tb[i]:
			return strings.Compare(ta[i], tb[i])
		}
	}
	return len(ta) - len(tb)
}

func tokens(s string) []string {
	var out []string
	cur := ""
	digit := false
	for _, r := range s {
		d := r >= '0' && r <= '9'
		if r == '.' || r == '-' || r == '+' || r == '_' {
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
			continue
		}
		if cur != "" && d != digit {
			out = append(out, cur)
			cur = ""
		}
		cur += string(r)
		digit = d
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}
