package messages

import (
	"regexp"
	"strings"
	"testing"
	"testing/quick"
)

func TestSubjectBuildersRejectBadTokens(t *testing.T) {
	for _, bad := range []string{"", "a.b", "*", ">", "a b", "A", "-x", "_all", strings.Repeat("a", 64), "ü"} {
		if _, err := CommandSubject(bad); err == nil {
			t.Errorf("CommandSubject(%q) accepted", bad)
		}
		if _, err := HeartbeatSubject(bad); err == nil {
			t.Errorf("HeartbeatSubject(%q) accepted", bad)
		}
		if _, err := EventSubject(bad, "x"); err == nil {
			t.Errorf("EventSubject(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "A", "a.b", "*", "1x"} {
		if _, err := EventSubject("h", bad); err == nil {
			t.Errorf("EventSubject type %q accepted", bad)
		}
	}
	if _, err := APISubject("host", "li.st"); err == nil {
		t.Error("APISubject accepted a dot")
	}
}

func TestSubjects(t *testing.T) {
	cases := map[string]func() (string, error){
		"foundry.cmd.web-1":          func() (string, error) { return CommandSubject("web-1") },
		"foundry.hb.web_2":           func() (string, error) { return HeartbeatSubject("web_2") },
		"foundry.evt.h1.host_online": func() (string, error) { return EventSubject("h1", "host_online") },
		"foundry.evt.*.cmd_refused":  func() (string, error) { return EventFilter("", "cmd_refused") },
		"foundry.evt.h1.*":           func() (string, error) { return EventFilter("h1", "") },
		"foundry.api.v1.host.list":   func() (string, error) { return APISubject("host", "list") },
		"foundry.cmd._all":           func() (string, error) { return BroadcastSubject(), nil },
	}
	for want, fn := range cases {
		got, err := fn()
		if err != nil || got != want {
			t.Errorf("got %q, %v; want %q", got, err, want)
		}
	}
}

func TestHostIDFromName(t *testing.T) {
	for in, want := range map[string]string{"Node1.Example.com": "node1-example-com", "10.77.0.11": "10-77-0-11", "fe-3": "fe-3"} {
		got, err := HostIDFromName(in)
		if err != nil || got != want {
			t.Errorf("HostIDFromName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := HostIDFromName("bad host"); err == nil {
		t.Error("accepted a space")
	}
}

func TestHostFromSubjectTrustsOnlyTheSubject(t *testing.T) {
	h, err := HostFromSubject(HeartbeatPrefix, "foundry.hb.web-1")
	if err != nil || h != "web-1" {
		t.Fatalf("got %q %v", h, err)
	}
	for _, bad := range []string{"foundry.hb", "foundry.hb.", "foundry.cmd.web-1", "foundry.hbx.web-1", "foundry.hb.A"} {
		if _, err := HostFromSubject(HeartbeatPrefix, bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// hostIDOK replaced the regular expression below for speed; it must
// accept exactly the same ids.
func TestHostIDCheckMatchesItsRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	alphabet := "az09-_.A* \x00é"
	f := func(b []byte) bool {
		var sb strings.Builder
		for _, c := range b {
			sb.WriteByte(alphabet[int(c)%len(alphabet)])
		}
		s := sb.String()
		return hostIDOK(s) == re.MatchString(s)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 20000}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "a", "-a", "_a", "0_-", strings.Repeat("a", 63), strings.Repeat("a", 64), "sim-00001", "Web-1", "web.1"} {
		if hostIDOK(s) != re.MatchString(s) {
			t.Fatalf("%q: hostIDOK %v, regexp %v", s, hostIDOK(s), re.MatchString(s))
		}
	}
}
