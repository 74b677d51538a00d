package target

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/messages"
)

// fleet is a small, varied fleet: two web hosts on different OSes and
// kernels, a database host with two labels, and a host that sent no facts.
var fleet = []Host{
	{ID: "web-1", Role: "web", Labels: map[string]string{"zone": "eu1"}, Facts: messages.Facts{
		Hostname: "web-1.example", OS: "debian", OSVersion: "12.8", Kernel: "6.1.0-18-amd64", Arch: "amd64",
		CPUs: 4, MemTotal: 8 << 30, Load1: 0.5, Uptime: 7200, AgentVersion: "1.2.3"}},
	{ID: "web-2", Role: "web", Labels: map[string]string{"zone": "eu2"}, Facts: messages.Facts{
		Hostname: "web-2.example", OS: "ubuntu", OSVersion: "22.04", Kernel: "6.10.2", Arch: "arm64",
		CPUs: 2, MemTotal: 4 << 30, Load1: 1.5, Uptime: 60, AgentVersion: "1.10.0"}},
	{ID: "db-1", Role: "db", Labels: map[string]string{"zone": "eu1", "tier": "gold"}, Facts: messages.Facts{
		Hostname: "db-1.example", OS: "debian", OSVersion: "11.9", Kernel: "5.10.0-28-amd64", Arch: "amd64",
		CPUs: 16, MemTotal: 64 << 30, DiskTotal: 2e12, Uptime: 30 * 86400, AgentVersion: "1.2.0"}},
	{ID: "bare-10"},
}

func matching(e Expr) []string {
	var ids []string
	for _, h := range Select(e, fleet) {
		ids = append(ids, h.ID)
	}
	return ids
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		// ids, globs, roles, labels
		{"id=web-1", []string{"web-1"}},
		{"id=web-*", []string{"web-1", "web-2"}},
		{"id=*-1", []string{"web-1", "db-1"}},
		{"id=web-?", []string{"web-1", "web-2"}},
		{"id=web", nil},
		{`id="web-*"`, nil}, // quoted: literal
		{"id!=web-*", []string{"db-1", "bare-10"}},
		{"role=worker", nil},
		{"role=web", []string{"web-1", "web-2"}},
		{`role=""`, []string{"bare-10"}},
		{"label.zone=eu1", []string{"web-1", "db-1"}},
		{"label.tier=gold", []string{"db-1"}},
		{`label.tier!=""`, []string{"db-1"}},
		{"label.tier!=gold", []string{"web-1", "web-2", "bare-10"}},
		{"label.Zone=eu1", nil}, // label keys are verbatim
		// text facts
		{"os=debian", []string{"web-1", "db-1"}},
		{"OS=debian", []string{"web-1", "db-1"}},
		{"os=Debian", nil}, // values are case-sensitive
		{"arch=amd64", []string{"web-1", "db-1"}},
		{"hostname~web", []string{"web-1", "web-2"}},
		{"id>web-1", []string{"web-2"}},
		{"id<web-10", []string{"web-1", "web-2", "db-1", "bare-10"}},
		{"id>=bare-9", []string{"web-1", "web-2", "db-1", "bare-10"}},
		// versions: cut to the value's precision
		{"os.version=12", []string{"web-1"}},
		{"os_version=12.8", []string{"web-1"}},
		{"os_version=12.7", nil},
		{"os_version>=12", []string{"web-1", "web-2"}},
		{"os_version<12", []string{"db-1", "bare-10"}},
		{"kernel>=6.1", []string{"web-1", "web-2"}},
		{"kernel<6.10", []string{"web-1", "db-1", "bare-10"}},
		{"kernel=6.1", []string{"web-1"}},
		{"kernel=6.1.*", []string{"web-1"}},
		{"agent_version>1.9", []string{"web-2"}},
		{"agent.version<=1.2", []string{"web-1", "db-1", "bare-10"}},
		// ~ stops at a boundary
		{"kernel~6.1", []string{"web-1"}},
		{"kernel~6", []string{"web-1", "web-2"}},
		{"kernel~6.1.0-18", []string{"web-1"}},
		{"kernel~5.10.0-28-am", nil},
		{"kernel~5.10.0-28-amd", []string{"db-1"}}, // a letter run then a digit run: a boundary
		{"id~web-1", []string{"web-1"}},
		{"id~bare-1", nil},
		// numbers, sizes, durations
		{"cpus>=4", []string{"web-1", "db-1"}},
		{"cpus=2", []string{"web-2"}},
		{"cpus!=2", []string{"web-1", "db-1", "bare-10"}},
		{"cpus<2", []string{"bare-10"}},
		{"mem_total>8GiB", []string{"db-1"}},
		{"mem_total>=8GiB", []string{"web-1", "db-1"}},
		{"mem_total>8GB", []string{"web-1", "db-1"}}, // 8 GiB > 8 GB
		{"mem.total=4gib", []string{"web-2"}},
		{"mem_total=4294967296", []string{"web-2"}},
		{"disk_total>=2TB", []string{"db-1"}},
		{"disk_total>1.8TiB", []string{"db-1"}},
		{"disk_total>1.9TiB", nil},
		{"load1>1", []string{"web-2"}},
		{"load1<=0.5", []string{"web-1", "db-1", "bare-10"}},
		{"uptime>1h", []string{"web-1", "db-1"}},
		{"uptime_s<=60", []string{"web-2", "bare-10"}},
		{"uptime_s>=4w", []string{"db-1"}},
		// in
		{"os in (debian,ubuntu)", []string{"web-1", "web-2", "db-1"}},
		{"id in (web-*, db-1)", []string{"web-1", "web-2", "db-1"}},
		{"cpus in (2,16)", []string{"web-2", "db-1"}},
		{"os_version in (11, 22)", []string{"web-2", "db-1"}},
		{"not os in (debian)", []string{"web-2", "bare-10"}},
		// boolean structure and precedence
		{"role=web and os=debian", []string{"web-1"}},
		{"role=web or role=db and os=ubuntu", []string{"web-1", "web-2"}},
		{"(role=web or role=db) and os=ubuntu", []string{"web-2"}},
		{"not role=web and cpus>0", []string{"db-1"}},
		{"not (role=web and cpus>0)", []string{"db-1", "bare-10"}},
		{"not not role=db", []string{"db-1"}},
		{"role=web AND label.zone=eu1 OR id=bare-10", []string{"web-1", "bare-10"}},
		{"  ( ( id = db-1 ) )  ", []string{"db-1"}},
		{"label.zone=eu1 and not (cpus>8 or arch=arm64)", []string{"web-1"}},
		// quoting
		{`role="web"`, []string{"web-1", "web-2"}},
		{`role='web'`, []string{"web-1", "web-2"}},
		{`role in ("web", 'db')`, []string{"web-1", "web-2", "db-1"}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := matching(e); !slices.Equal(got, tc.want) {
				t.Errorf("matches %v, want %v", got, tc.want)
			}
			// The canonical form selects the same hosts.
			e2, err := Parse(e.String())
			if err != nil {
				t.Fatalf("String() %q does not parse: %v", e.String(), err)
			}
			if got := matching(e2); !slices.Equal(got, tc.want) {
				t.Errorf("String() %q matches %v, want %v", e.String(), got, tc.want)
			}
		})
	}
}

// TestNotIsComplement pins the rule that a missing label or fact is an
// empty value rather than a third state: not x always selects exactly the
// hosts x does not.
func TestNotIsComplement(t *testing.T) {
	for _, s := range []string{"label.zone=eu1", "label.nope!=x", "kernel>=6", "cpus<4", "id=web-*", "hostname~web"} {
		e, n := MustParse(s), MustParse("not ("+s+")")
		for _, h := range fleet {
			if e.Match(h) == n.Match(h) {
				t.Errorf("%s: %q and its negation agree on %s", s, s, h.ID)
			}
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"role = web", "role=web"},
		{"OS.Version >= 12", "os_version>=12"},
		{"uptime>2h", "uptime_s>2h"},
		{"(role=a or role=b) and id=c", "(role=a or role=b) and id=c"},
		{"role=a or (role=b and id=c)", "role=a or role=b and id=c"},
		{"(role=a or role=b) or id=c", "role=a or role=b or id=c"},
		{"not (role=a and id=b)", "not (role=a and id=b)"},
		{"not(role=a)", "not role=a"},
		{"id in ( web-1 ,db-1 )", "id in (web-1,db-1)"},
		{`id="web-*"`, `id="web-*"`},
		{`role="and"`, `role="and"`},
		{`role="a b"`, `role="a b"`},
		{`role='say "hi"'`, `role="say \"hi\""`},
		{`role=""`, `role=""`},
		{`label.k8s.io/zone=a`, `label.k8s.io/zone=a`},
	} {
		if got := MustParse(tc.in).String(); got != tc.want {
			t.Errorf("%q: String() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		pos  int
		msg  string
	}{
		{"", 1, "expected a condition such as role=web"},
		{"   ", 4, "expected a condition such as role=web"},
		{"role=web and os=", 17, `expected a value after "="`},
		{"role=web and os= or id=x", 18, `expected a value after "=", found the keyword "or"; quote it`},
		{"role=", 6, `expected a value after "="`},
		{"role", 5, `expected an operator (= != < <= > >= ~ or in) after "role", found the end`},
		{"role web", 6, `expected an operator (= != < <= > >= ~ or in) after "role", found "web"`},
		{"rol=web", 1, `unknown field "rol"; use id, state, role, label.KEY or a fact`},
		{"label.=x", 1, "label needs a key"},
		{"label.a*=x", 1, "may not contain * or ?"},
		{"role=web and", 13, `expected a condition after "and"`},
		{"role=web or or", 13, `expected a condition after "or", found the keyword "or"`},
		{"not", 4, `expected a condition after "not"`},
		{"(role=web", 10, `expected ")" to close the "(" at position 1, found the end of the expression`},
		{"((role=web)", 12, `expected ")" to close the "(" at position 1`},
		{"role=web)", 9, `found ")" with no "(" before it`},
		{"()", 2, `expected a condition inside "()"`},
		{"role=web os=debian", 10, `expected "and", "or" or the end of the expression, found "os"`},
		{"role=web !os=x", 10, `"!" must be followed by "="`},
		{"role=web & os=x", 10, `unexpected character '&'`},
		{`role="web`, 6, `string is not closed; add a closing "`},
		{`role='web`, 6, `string is not closed; add a closing '`},
		{`role="a\b"`, 8, `only \" and \\ may follow a backslash`},
		{`"role"=web`, 1, `expected a condition such as role=web, found the string "role" (a field name is not quoted)`},
		{"os in debian", 7, `expected "(" after "in", e.g. os in (a,b), found "debian"`},
		{"os in ()", 8, `expected at least one value`},
		{"os in (debian", 14, `expected "," or ")" in the list that starts at position 7, found the end`},
		{"os in (debian,)", 15, `expected a value in the list, found ")"`},
		{"os in (,debian)", 8, `expected a value after "in (", found ","`},
		{"cpus>=four", 7, `cpus takes a number such as 4 or 0.5, not "four"`},
		{"cpus>=4k", 7, `cpus takes a number such as 4 or 0.5, not "4k"`},
		{"cpus=4*", 6, "cpus is a number; * and ? work only on text fields"},
		{"cpus~4", 5, "~ matches text; cpus is a number"},
		{"mem_total>8G", 11, `unit "G" of "8G" is ambiguous: write GiB (powers of 1024) or GB (powers of 1000)`},
		{"mem_total>8 GiB", 13, `expected "and", "or" or the end of the expression, found "GiB"`},
		{"mem_total>8XB", 11, `"XB" is not a size unit`},
		{"mem_total>-1", 11, "mem_total takes a size such as 8GiB"},
		{"uptime>3y", 8, `"y" is not a duration unit`},
		{"cpus>" + strings.Repeat("9", 400), 6, "is too large"},
		{"id<web-*", 4, "* and ? work with = and != only"},
		{"id~web*", 4, "* and ? work with = and != only"},
		{`id~""`, 4, "~ needs a prefix"},
		{"id=é", 4, "unexpected character byte 0xc3"},
		{strings.Repeat("(", MaxDepth+1) + "id=a" + strings.Repeat(")", MaxDepth+1), MaxDepth + 1, "nests deeper than 64 levels"},
		{strings.Repeat("not ", MaxDepth+1) + "id=a", 4*MaxDepth + 1, "nests deeper than 64 levels"},
		{"id=" + strings.Repeat("a", MaxLength), MaxLength + 1, "longer than the limit of 4096"},
	} {
		t.Run(tc.expr[:min(len(tc.expr), 40)], func(t *testing.T) {
			_, err := Parse(tc.expr)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, want a *SyntaxError", tc.expr, err)
			}
			if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Parse(%q) = %q, want position %d and %q", tc.expr, err, tc.pos, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "position ") {
				t.Errorf("error %q does not start with its position", err)
			}
		})
	}
}

func TestErrorMessageShape(t *testing.T) {
	_, err := Parse("role=web and id=")
	if got, want := err.Error(), `position 17: expected a value after "="`; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
	var se *SyntaxError
	errors.As(err, &se)
	if got, want := se.Caret(), "role=web and id=\n                ^"; got != want {
		t.Errorf("Caret() =\n%s\nwant\n%s", got, want)
	}
}

func TestNestingAtTheLimitParses(t *testing.T) {
	s := strings.Repeat("(", MaxDepth) + "id=a" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(s); err != nil {
		t.Fatalf("%d levels refused: %v", MaxDepth, err)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "a", true}, {"a*c", "abbbc", true},
		{"a*c", "abcd", false}, {"*b*", "abc", true}, {"?", "", false}, {"a?c", "abc", true},
		{"a*b*c", "aXbYbZc", true}, {"a*b*c", "aXbYZ", false}, {"", "", true}, {"", "a", false},
	} {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestNaturalCompareIsATotalOrderOnDistinctStrings(t *testing.T) {
	xs := []string{"", "a", "a1", "a01", "a2", "a10", "b", "web-9", "web-10", "web-010", "0", "00", "1"}
	for _, a := range xs {
		for _, b := range xs {
			c, r := naturalCompare(a, b), naturalCompare(b, a)
			if (c == 0) != (a == b) || c != -r {
				t.Errorf("naturalCompare(%q,%q)=%d, reverse %d", a, b, c, r)
			}
		}
	}
	if naturalCompare("web-9", "web-10") >= 0 {
		t.Error("web-9 should sort before web-10")
	}
}
