package messages

import "testing"

func TestCompareVersionsRanksAReleaseAboveItsCandidates(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2.1.0", "2.1.0", 0}, {"2.1.0", "2.10.0", -1}, {"2.10.0", "2.9.1", 1}, {"1.0", "1.0.1", -1},
		{"v1.2", "v1.10", -1}, {"v2.1.0", "2.1.0", 0},
		// A pre-release comes before its release, whatever its text says.
		{"2.1.0-rc1", "2.1.0", -1}, {"2.1.0", "2.1.0-rc1", 1}, {"1.0.0-rc1", "1.0.0", -1},
		{"2.1.0-rc1", "2.1.0-rc2", -1}, {"2.1.0-rc2", "2.1.0-rc10", -1}, {"2.1.0-alpha", "2.1.0-beta", -1},
		{"2.1.0-rc1", "2.0.9", 1},
		// k3s: +k3sN orders releases of one Kubernetes version.
		{"v1.28.5+k3s1", "v1.28.5+k3s2", -1}, {"v1.35.4+k3s2", "v1.35.4+k3s10", -1},
		{"v1.35.4-rc1+k3s1", "v1.35.4+k3s1", -1},
		// Labels semver cannot read still order by their numeric runs.
		{"2024.01.15-build7", "2024.01.15-build12", -1}, {"nightly-9", "nightly-10", -1}, {"007", "7", 0},
	} {
		got := CompareVersions(c.a, c.b)
		if (got < 0) != (c.want < 0) || (got > 0) != (c.want > 0) {
			t.Errorf("CompareVersions(%s, %s) = %d, want sign %d", c.a, c.b, got, c.want)
		}
	}
}
