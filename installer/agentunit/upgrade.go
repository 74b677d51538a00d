package agentunit

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Agent self-update (foundry agent upgrade). The running agent stages the
// new binary beside itself (Binary+NewSuffix), keeps the running one as
// Binary+PrevSuffix, writes UpgradeMarker, renames the new binary into
// place and has systemd restart the unit. From then on the way back does
// not depend on the new binary at all: PrestartScript, the unit's
// ExecStartPre=, runs before every start, counts the starts against the
// marker and, after MaxUpgradeStarts starts or past the marker's
// deadline, moves the previous binary back, records why in
// UpgradeFailedRecord and removes the marker. A new agent that starts
// but never connects is restarted into that check by a transient timer
// (GuardRunArgs) at the deadline. The new agent removes the marker itself
// once it has connected and heartbeated its version.
const (
	NewSuffix  = ".new"
	PrevSuffix = ".prev"
	// UpgradeMarker is the pending-upgrade marker, key=value lines (see
	// Marker).
	UpgradeMarker = StateDir + "/agent-upgrade"
	// UpgradeFailedRecord is what PrestartScript writes when it rolled
	// back: id, from, to, time (unix s) and reason lines. The previous
	// agent reports it in its facts.
	UpgradeFailedRecord = StateDir + "/agent-upgrade.failed"
	// MaxUpgradeStarts is how many times the new agent may be started
	// before its host goes back: Restart=on-failure every RestartSec, so
	// a binary that crashes at start is replaced within ten seconds.
	MaxUpgradeStarts = 3
	// RestartUnit and GuardUnit are the transient units of an upgrade.
	RestartUnit = "foundry-agent-upgrade-restart"
	GuardUnit   = "foundry-agent-upgrade-guard"
	// GuardSlack is how long after the deadline the guard restarts a new
	// agent that has not confirmed, so PrestartScript finds it late.
	GuardSlack = 5
)

// Marker is a pending upgrade: the command's id, the versions, the
// deadline (unix s, host clock) and how many times the new agent was
// started. Its format is key=value lines so PrestartScript can read and
// update it with sed.
type Marker struct {
	ID       string
	From, To string
	Deadline int64
	Attempts int
}

// Encode is the marker file's content.
func (m Marker) Encode() []byte {
	return fmt.Appendf(nil, "id=%s\nfrom=%s\nto=%s\ndeadline=%d\nattempts=%d\n", m.ID, m.From, m.To, m.Deadline, m.Attempts)
}

// Valid refuses what the shell script could not read back as written:
// the id and versions must be single words of safe characters.
func (m Marker) Valid() error {
	for _, f := range []struct{ name, v string }{{"id", m.ID}, {"from", m.From}, {"to", m.To}} {
		if f.v == "" || len(f.v) > 64 || strings.Trim(f.v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") != "" {
			return fmt.Errorf("upgrade marker %s %q must be 1-64 letters, digits, '.', '_', '+' or '-'", f.name, f.v)
		}
	}
	if m.Deadline <= 0 || m.Attempts < 0 {
		return fmt.Errorf("upgrade marker needs a deadline and a non-negative attempt count")
	}
	return nil
}

// ParseMarker reads a marker file; unknown keys are ignored.
func ParseMarker(b []byte) (Marker, error) {
	kv := parseKV(b)
	m := Marker{ID: kv["id"], From: kv["from"], To: kv["to"]}
	var err error
	if m.Deadline, err = strconv.ParseInt(kv["deadline"], 10, 64); err != nil {
		return m, fmt.Errorf("upgrade marker deadline %q: %w", kv["deadline"], err)
	}
	if m.Attempts, err = strconv.Atoi(orZero(kv["attempts"])); err != nil {
		return m, fmt.Errorf("upgrade marker attempts %q: %w", kv["attempts"], err)
	}
	return m, m.Valid()
}

// FailedRecord is UpgradeFailedRecord read back.
type FailedRecord struct {
	ID, From, To, Reason string
	Time                 int64
}

// ParseFailedRecord reads UpgradeFailedRecord.
func ParseFailedRecord(b []byte) (FailedRecord, error) {
	kv := parseKV(b)
	r := FailedRecord{ID: kv["id"], From: kv["from"], To: kv["to"], Reason: kv["reason"]}
	t, err := strconv.ParseInt(orZero(kv["time"]), 10, 64)
	if err != nil || r.To == "" {
		return r, fmt.Errorf("upgrade record is damaged: %q", b)
	}
	r.Time = t
	return r, nil
}

func parseKV(b []byte) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// PrestartScript is the shell program ExecStartPre= runs before each start
// of the agent (as root, outside the sandbox: the binary may be in a
// directory the agent itself cannot write). Without a marker it does
// nothing. With one it counts this start; once the count passes
// MaxUpgradeStarts or the deadline has passed, it puts binary's previous
// version back, writes the failed record and removes the marker, so this
// very start runs the previous agent. It never fails: a failed
// ExecStartPre= would stop the agent from starting at all.
func PrestartScript(binary, marker, record string) string {
	b, m, r := quote(binary), quote(marker), quote(record)
	return "m=" + m + "; b=" + b + "; r=" + r + "; " +
		`[ -f "$m" ] || exit 0; ` +
		`get() { sed -n "s/^$1=//p" "$m" | head -n 1; }; ` +
		`id=$(get id); from=$(get from); to=$(get to); dl=$(get deadline); n=$(get attempts); ` +
		`case "$n" in ''|*[!0-9]*) n=0;; esac; case "$dl" in ''|*[!0-9]*) dl=0;; esac; ` +
		`n=$((n+1)); now=$(date +%s); why=; ` +
		`if [ "$n" -gt ` + strconv.Itoa(MaxUpgradeStarts) + ` ]; then why="agent $to did not stay up after ` + strconv.Itoa(MaxUpgradeStarts) + ` starts"; ` +
		`elif [ "$now" -ge "$dl" ]; then why="agent $to did not connect and report its version before the deadline"; fi; ` +
		`if [ -n "$why" ]; then ` +
		`if [ -f "$b` + PrevSuffix + `" ]; then mv -f "$b` + PrevSuffix + `" "$b"; fi; ` +
		`{ echo "id=$id"; echo "from=$from"; echo "to=$to"; echo "time=$now"; echo "reason=$why"; } > "$r.tmp" && mv -f "$r.tmp" "$r"; ` +
		`rm -f "$m"; echo "foundry-agent: rolled back to $from: $why" >&2; exit 0; fi; ` +
		`sed "s/^attempts=.*/attempts=$n/" "$m" > "$m.tmp" && mv -f "$m.tmp" "$m"; ` +
		`echo "foundry-agent: starting $to, attempt $n of ` + strconv.Itoa(MaxUpgradeStarts) + `" >&2; exit 0`
}

// systemdQuote makes s one double-quoted word of a systemd command line
// that systemd passes on unchanged: backslash and double quote escaped,
// '%' (specifiers) and '$' (environment variables) doubled.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// PrestartLine is the unit's ExecStartPre= for o: '+' runs it with full
// privileges, outside the sandbox.
func PrestartLine(o Options) string {
	o = o.withDefaults()
	return "ExecStartPre=+/bin/sh -c " + systemdQuote(PrestartScript(o.Binary, UpgradeMarker, UpgradeFailedRecord))
}

// upgradeUnit names one upgrade's transient unit: unique per upgrade,
// since a finished upgrade's guard timer stays loaded until it fires.
func upgradeUnit(base, id string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	return base + "-" + id
}

// RestartRunArgs are the systemd-run arguments that restart the agent
// shortly after it replied to upgrade id, onto the new binary.
func RestartRunArgs(id string) []string {
	return []string{"--unit=" + upgradeUnit(RestartUnit, id), "--collect", "--quiet", "--on-active=" + StopDelay,
		"--timer-property=AccuracySec=100ms", "/bin/systemctl", "restart", UnitName}
}

// GuardRunArgs are the systemd-run arguments of upgrade id's guard: after
// deadlineSec (+GuardSlack), if the marker is still there, restart the
// agent, so that PrestartScript finds the deadline passed and rolls back.
// A new agent that runs but never connects is thereby replaced too.
func GuardRunArgs(id string, deadlineSec int64) []string {
	return []string{"--unit=" + upgradeUnit(GuardUnit, id), "--collect", "--quiet", "--on-active=" + strconv.FormatInt(deadlineSec+GuardSlack, 10) + "s",
		"--timer-property=AccuracySec=1s", "/bin/sh", "-c",
		"if [ -f " + quote(UpgradeMarker) + " ]; then /bin/systemctl restart " + UnitName + "; fi"}
}

// SwapUnit is the transient unit that swaps a packaged agent's binary.
const SwapUnit = "foundry-agent-upgrade-swap"

// SwapScript puts staged in place of binary, keeping binary as
// binary+PrevSuffix for the rollback step: for the package's binary,
// which lives where the agent's sandbox may not write, so a transient
// unit runs this (SwapRunArgs). Each rename is atomic; binary is never
// missing. dpkg keeps recording the package's version: the next host add
// or dpkg -i puts a package in place again. It holds no '$' or '%', which
// systemd would expand in a transient unit's command line.
func SwapScript(staged, binary string) string {
	s, b, prev, next := quote(staged), quote(binary), quote(binary+PrevSuffix), quote(binary+NewSuffix)
	tmp := quote(binary + PrevSuffix + ".tmp")
	return "cp -p " + b + " " + tmp + " && mv -f " + tmp + " " + prev +
		" && cp " + s + " " + next + " && chown root:root " + next + " && chmod 0755 " + next +
		" && mv -f " + next + " " + b + " && rm -f " + s + " && sync"
}

// SwapBackScript undoes SwapScript when the upgrade cannot go on.
func SwapBackScript(binary string) string {
	b, prev := quote(binary), quote(binary+PrevSuffix)
	return "if [ -f " + prev + " ]; then mv -f " + prev + " " + b + "; fi; sync"
}

// SwapRunArgs run SwapScript as upgrade id's transient unit and wait for
// it, its output piped back.
func SwapRunArgs(id, staged, binary string) []string {
	return []string{"--unit=" + upgradeUnit(SwapUnit, id), "--collect", "--quiet", "--wait", "--pipe", "/bin/sh", "-c", SwapScript(staged, binary)}
}

// SwapBackRunArgs run SwapBackScript likewise.
func SwapBackRunArgs(id, binary string) []string {
	return []string{"--unit=" + upgradeUnit(SwapUnit, id) + "-back", "--collect", "--quiet", "--wait", "--pipe", "/bin/sh", "-c", SwapBackScript(binary)}
}
