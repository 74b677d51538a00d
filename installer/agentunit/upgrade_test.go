package agentunit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMarkerRoundTrips(t *testing.T) {
	m := Marker{ID: "c0ffee12", From: "1.0.0", To: "1.1.0+build.2", Deadline: 1764700000, Attempts: 2}
	got, err := ParseMarker(m.Encode())
	if err != nil || got != m {
		t.Fatalf("ParseMarker(Encode()) = %+v, %v; want %+v", got, err, m)
	}
}

func TestMarkerRefusesWordsTheScriptCannotCarry(t *testing.T) {
	for _, m := range []Marker{
		{ID: "a", From: "1.0", To: "1.1; rm -rf /", Deadline: 1},
		{ID: "a", From: "1.0\nattempts=0", To: "1.1", Deadline: 1},
		{ID: "", From: "1.0", To: "1.1", Deadline: 1},
		{ID: "a", From: "1.0", To: "1.1", Deadline: 0},
	} {
		if err := m.Valid(); err == nil {
			t.Errorf("%+v is valid", m)
		}
	}
}

func TestParseFailedRecordNeedsTo(t *testing.T) {
	r, err := ParseFailedRecord([]byte("id=x\nfrom=1\nto=2\ntime=5\nreason=agent 2 did not stay up after 3 starts\n"))
	if err != nil || r.To != "2" || r.Time != 5 || r.Reason != "agent 2 did not stay up after 3 starts" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseFailedRecord([]byte("garbage")); err == nil {
		t.Fatal("a damaged record parsed")
	}
}

// prestart runs PrestartScript on files in a temporary directory: the
// binary holds "new", its .prev "old".
type prestart struct {
	t                   *testing.T
	bin, marker, record string
}

func newPrestart(t *testing.T) *prestart {
	d := t.TempDir()
	p := &prestart{t: t, bin: filepath.Join(d, "foundry-agent"), marker: filepath.Join(d, "agent-upgrade"), record: filepath.Join(d, "agent-upgrade.failed")}
	write(t, p.bin, "new")
	write(t, p.bin+PrevSuffix, "old")
	return p
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func (p *prestart) run() string {
	p.t.Helper()
	out, err := exec.Command("/bin/sh", "-c", PrestartScript(p.bin, p.marker, p.record)).CombinedOutput()
	if err != nil {
		p.t.Fatalf("the script failed (it must never fail): %v\n%s", err, out)
	}
	return string(out)
}

func TestPrestartWithoutMarkerChangesNothing(t *testing.T) {
	p := newPrestart(t)
	if out := p.run(); out != "" {
		t.Errorf("output %q", out)
	}
	if read(t, p.bin) != "new" || read(t, p.bin+PrevSuffix) != "old" {
		t.Error("binaries changed")
	}
}

func TestPrestartCountsStartsThenRollsBack(t *testing.T) {
	p := newPrestart(t)
	m := Marker{ID: "cmd1", From: "1.0.0", To: "1.1.0", Deadline: time.Now().Add(time.Hour).Unix()}
	write(t, p.marker, string(m.Encode()))
	for i := 1; i <= MaxUpgradeStarts; i++ {
		p.run()
		got, err := ParseMarker([]byte(read(t, p.marker)))
		if err != nil || got.Attempts != i || got.To != "1.1.0" || got.ID != "cmd1" {
			t.Fatalf("start %d: marker %+v %v", i, got, err)
		}
		if read(t, p.bin) != "new" {
			t.Fatalf("start %d: rolled back too early", i)
		}
	}
	out := p.run()
	if read(t, p.bin) != "old" {
		t.Errorf("start %d: binary is %q, want the previous one", MaxUpgradeStarts+1, read(t, p.bin))
	}
	if _, err := os.Stat(p.marker); !os.IsNotExist(err) {
		t.Errorf("marker left behind: %v", err)
	}
	r, err := ParseFailedRecord([]byte(read(t, p.record)))
	if err != nil || r.ID != "cmd1" || r.From != "1.0.0" || r.To != "1.1.0" || !strings.Contains(r.Reason, "did not stay up after 3 starts") {
		t.Errorf("record %+v %v", r, err)
	}
	if !strings.Contains(out, "rolled back to 1.0.0") {
		t.Errorf("output %q", out)
	}
	// The previous agent's own starts find no marker and change nothing.
	p.run()
	if read(t, p.bin) != "old" {
		t.Error("a later start changed the binary")
	}
}

func TestPrestartRollsBackPastTheDeadline(t *testing.T) {
	p := newPrestart(t)
	m := Marker{ID: "cmd2", From: "1.0.0", To: "1.1.0", Deadline: time.Now().Add(-time.Second).Unix(), Attempts: 1}
	write(t, p.marker, string(m.Encode()))
	p.run()
	r, err := ParseFailedRecord([]byte(read(t, p.record)))
	if read(t, p.bin) != "old" || err != nil || !strings.Contains(r.Reason, "before the deadline") {
		t.Errorf("binary %q, record %+v %v", read(t, p.bin), r, err)
	}
}

func TestPrestartWithoutPreviousBinaryStillClearsMarker(t *testing.T) {
	p := newPrestart(t)
	os.Remove(p.bin + PrevSuffix)
	m := Marker{ID: "cmd3", From: "1.0.0", To: "1.1.0", Deadline: 1, Attempts: 0}
	write(t, p.marker, string(m.Encode()))
	p.run()
	if _, err := os.Stat(p.marker); !os.IsNotExist(err) || read(t, p.bin) != "new" {
		t.Errorf("marker %v, binary %q", err, read(t, p.bin))
	}
}

// systemdUnquote is systemd's reading of one double-quoted word of an
// Exec line, for what systemdQuote produces: the escapes, then the
// specifier and variable doubling.
func systemdUnquote(t *testing.T, w string) string {
	t.Helper()
	if !strings.HasPrefix(w, `"`) || !strings.HasSuffix(w, `"`) {
		t.Fatalf("%q is not double-quoted", w)
	}
	w = w[1 : len(w)-1]
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c == '\\':
			i++
			b.WriteByte(w[i])
		case c == '"':
			t.Fatalf("unescaped quote at %d in %q", i, w)
		case (c == '%' || c == '$') && i+1 < len(w) && w[i+1] == c:
			b.WriteByte(c)
			i++
		case c == '%' || c == '$':
			t.Fatalf("undoubled %c at %d in %q", c, i, w)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestPrestartLineCarriesTheScriptUnchanged(t *testing.T) {
	line := PrestartLine(Options{})
	word, ok := strings.CutPrefix(line, "ExecStartPre=+/bin/sh -c ")
	if !ok || strings.Contains(line, "\n") {
		t.Fatalf("line %q", line)
	}
	if got, want := systemdUnquote(t, word), PrestartScript(DefaultBinary, UpgradeMarker, UpgradeFailedRecord); got != want {
		t.Errorf("systemd would run\n%s\nnot\n%s", got, want)
	}
	if d := directives(t, Unit(Options{})); len(d["[Service]"]["ExecStartPre"]) != 1 {
		t.Errorf("ExecStartPre = %q", d["[Service]"]["ExecStartPre"])
	}
}

func TestGuardRestartsOnlyWithAMarker(t *testing.T) {
	args := GuardRunArgs("0123456789abcdef", 60)
	if !strings.Contains(strings.Join(args, " "), "--on-active=65s") || args[0] != "--unit="+GuardUnit+"-0123456789ab" || args[len(args)-1] != "if [ -f '"+UpgradeMarker+"' ]; then /bin/systemctl restart "+UnitName+"; fi" {
		t.Errorf("guard %q", args)
	}
}

// The swap runs as a transient unit's command line, where systemd expands
// '$' and '%': the scripts must hold neither.
func TestSwapArgsHoldNothingSystemdWouldExpand(t *testing.T) {
	for _, args := range [][]string{SwapRunArgs("cmd1", StateDir+"/foundry-agent.new", DefaultBinary), SwapBackRunArgs("cmd1", DefaultBinary)} {
		for _, a := range args {
			if strings.ContainsAny(a, "$%\n") {
				t.Errorf("argument %q", a)
			}
		}
		if !strings.HasPrefix(args[0], "--unit="+SwapUnit+"-cmd1") {
			t.Errorf("unit %q", args[0])
		}
	}
}
