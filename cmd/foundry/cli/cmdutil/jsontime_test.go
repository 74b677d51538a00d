package cmdutil

import (
	"bytes"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/messages"
)

// TestJSONTimesAreRFC3339: host list --json printed last_seen and
// first_seen as Unix milliseconds (so did events, audit, jobs, operators
// and artifacts), where other outputs used RFC 3339. Every CLI JSON
// output goes through WriteJSON or WriteJSONLine.
func TestJSONTimesAreRFC3339(t *testing.T) {
	hosts := []messages.HostRecord{{ID: "web-1", State: messages.StateOnline, LastSeen: 1796304001123, FirstSeen: 1796300000000,
		IntervalMs: 10000, Facts: messages.Facts{Hostname: "web-1", Uptime: 42}}, {ID: "new", State: messages.StateEnrolled}}
	var out bytes.Buffer
	if err := WriteJSON(&out, hosts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"last_seen": "2026-12-03T13:20:01.123Z"`, `"first_seen": "2026-12-03T12:13:20.000Z"`,
		`"interval_ms": 10000`, `"uptime_s": 42`, `"last_seen": null`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("lacks %s:\n%s", want, out.String())
		}
	}
	if !strings.HasPrefix(out.String(), "[\n  {\n    \"id\": \"web-1\",\n    \"state\": \"online\",") {
		t.Errorf("indentation or key order changed:\n%s", out.String())
	}
	out.Reset()
	ev := messages.Event{V: 1, Time: 1796304001123, Host: "web-1", Type: messages.EventHostOnline, Message: "a <b> & c"}
	if err := WriteJSONLine(&out, ev); err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"time":"2026-12-03T13:20:01.123Z","host":"web-1","type":"host_online","severity":"","message":"a \u003cb\u003e \u0026 c"`; !strings.HasPrefix(out.String(), want) || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("got  %s\nwant %s...", out.String(), want)
	}
}
