package target

import (
	"testing"

	"github.com/foundry-fleet/foundry/messages"
)

// fuzzHosts add hosts with odd values to the fleet so that Match is
// compared on more than the happy path.
var fuzzHosts = append(append([]Host(nil), fleet...),
	Host{ID: "x", Role: "and", Labels: map[string]string{"a": `"`, "k8s.io/zone": "*"}, Facts: messages.Facts{
		OS: "a b", OSVersion: "1.0rc1", Kernel: "6", CPUs: 1, MemTotal: 1, Load1: 2.25}},
	Host{ID: "web-010", Role: "web", Facts: messages.Facts{OSVersion: "12.08", Kernel: "6.1", AgentVersion: "v2"}},
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// prints to a canonical form that parses again, prints identically and
// selects the same hosts.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"id=web-1", "id=web-*", "role=worker and label.zone=eu1", "os=debian or os.version>=12",
		"not (cpus>=4 and mem_total>8GiB)", "kernel~6.1", "os in (debian, ubuntu)", `role="a \" b"`,
		`role='x'`, "uptime>2h", "((id=a))", "not not id=a", "disk_total<=1.5TB", "id<web-10",
		"role=web and", "os in (", `"`, "!=", "(((", "id=é", "cpus>=", "label.=", "id~\"\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q) returned %T, want *SyntaxError", s, err)
			}
			return
		}
		s1 := e.String()
		e2, err := parse(s1)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, s1, err)
		}
		if s2 := e2.String(); s2 != s1 {
			t.Fatalf("canonical form is not stable: %q -> %q -> %q", s, s1, s2)
		}
		for _, h := range fuzzHosts {
			if e.Match(h) != e2.Match(h) {
				t.Fatalf("%q and its canonical form %q disagree on host %s", s, s1, h.ID)
			}
		}
	})
}
