package messages

import (
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

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
