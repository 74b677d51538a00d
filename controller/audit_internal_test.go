package controller

import (
	"strings"
	"testing"
)

func TestParseViolationReadsTheServersLogLine(t *testing.T) {
	for line, want := range map[string]struct {
		cid     uint64
		op, sub string
	}{
		`127.0.0.1:5555 - cid:12 - "v1.55.0:go:foundry-cli" - "operator:viewer" - Publish Violation - Subject "foundry.api.v1.host.remove"`: {12, "publish", "foundry.api.v1.host.remove"},
		`10.0.0.2:1 - cid:7 - Subscription Violation - Subject "foundry.cmd.web-2", SID 3`:                                                  {7, "subscribe", "foundry.cmd.web-2"},
	} {
		cid, op, sub, ok := parseViolation(line)
		if !ok || cid != want.cid || op != want.op || sub != want.sub {
			t.Errorf("%q: got %d %q %q %v", line, cid, op, sub, ok)
		}
	}
	for _, line := range []string{"", "cid:1 Publish Violation", `cid:x - Publish Violation - Subject "a"`,
		`cid:99999999999999999999999 - Publish Violation - Subject "a"`, "Authorization Violation"} {
		if _, _, _, ok := parseViolation(line); ok {
			t.Errorf("parsed %q", line)
		}
	}
}

func FuzzParseViolation(f *testing.F) {
	f.Add(`127.0.0.1:5555 - cid:12 - "x" - Publish Violation - Subject "foundry.api.v1.host.remove"`)
	f.Add(`cid:7 - Subscription Violation - Subject "a.b", SID 3`)
	f.Fuzz(func(t *testing.T, line string) {
		_, op, sub, ok := parseViolation(line)
		if ok && (op != "publish" && op != "subscribe" || len(sub) > 512 || strings.Contains(sub, `"`)) {
			t.Fatalf("parsed %q into %q %q", line, op, sub)
		}
	})
}
