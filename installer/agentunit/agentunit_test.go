package agentunit

import (
	"errors"
	"strings"
	"testing"
)

// directives parses a unit into section -> key -> values, failing on
// anything that is not a comment, a section header or key=value.
func directives(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(strings.TrimSuffix(unit, "\n"), "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("line %d %q is not key=value in a section", i+1, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestUnitDefault(t *testing.T) {
	d := directives(t, Unit(Options{}))
	tests := []struct {
		section, key, want string
	}{
		{"[Unit]", "After", "network-online.target"},
		{"[Unit]", "Wants", "network-online.target"},
		{"[Unit]", "StartLimitIntervalSec", "0"},
		{"[Service]", "Type", "notify"},
		{"[Service]", "NotifyAccess", "main"},
		{"[Service]", "ExecStart", "/usr/bin/foundry-agent run --config /etc/foundry/agent.yaml"},
		{"[Service]", "Restart", "on-failure"},
		{"[Service]", "RestartSec", "2s"},
		{"[Service]", "WatchdogSec", "30s"},
		{"[Service]", "User", "root"},
		{"[Service]", "UMask", "0077"},
		{"[Service]", "StateDirectory", "foundry"},
		{"[Service]", "RuntimeDirectory", "foundry"},
		{"[Service]", "ProtectSystem", "strict"},
		{"[Service]", "ReadWritePaths", "/etc /usr/local /var/lib /opt"},
		{"[Service]", "ProtectHome", "read-only"},
		{"[Service]", "PrivateTmp", "yes"},
		{"[Service]", "PrivateMounts", "yes"},
		{"[Service]", "PrivateDevices", "yes"},
		{"[Service]", "ProtectKernelTunables", "yes"},
		{"[Service]", "ProtectKernelModules", "yes"},
		{"[Service]", "ProtectKernelLogs", "yes"},
		{"[Service]", "ProtectControlGroups", "yes"},
		{"[Service]", "ProtectClock", "yes"},
		{"[Service]", "NoNewPrivileges", "yes"},
		{"[Service]", "RestrictSUIDSGID", "yes"},
		{"[Service]", "LockPersonality", "yes"},
		{"[Service]", "RestrictRealtime", "yes"},
		{"[Service]", "RestrictNamespaces", "yes"},
		{"[Service]", "MemoryDenyWriteExecute", "yes"},
		{"[Service]", "SystemCallArchitectures", "native"},
		{"[Service]", "SystemCallFilter", "@system-service"},
		{"[Service]", "SystemCallErrorNumber", "EPERM"},
		{"[Service]", "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"},
		{"[Service]", "CapabilityBoundingSet", "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_KILL"},
		{"[Install]", "WantedBy", "multi-user.target"},
	}
	for _, tt := range tests {
		got := d[tt.section][tt.key]
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s %s = %q, want exactly %q", tt.section, tt.key, got, tt.want)
		}
	}
	// Options left out on purpose (see the comments in the unit).
	for _, key := range []string{"ProtectHostname", "ProtectProc", "ProcSubset", "PrivateNetwork", "PrivateUsers", "DynamicUser", "AmbientCapabilities"} {
		if v, ok := d["[Service]"][key]; ok {
			t.Errorf("%s=%q is set; the agent must not have it", key, v)
		}
	}
	if caps := d["[Service]"]["CapabilityBoundingSet"][0]; strings.Contains(caps, "CAP_SYS_ADMIN") || strings.Contains(caps, "CAP_SETUID") {
		t.Errorf("capabilities %q are too wide", caps)
	}
}

func TestUnitIsDeterministicAndEndsWithNewline(t *testing.T) {
	a, b := Unit(Options{}), Unit(Options{})
	if a != b || !strings.HasSuffix(a, "\n") || strings.HasSuffix(a, "\n\n") {
		t.Error("Unit is not stable, or does not end with exactly one newline")
	}
}

func TestUnitCustomPaths(t *testing.T) {
	d := directives(t, Unit(Options{Binary: "/opt/foundry/bin/agent", Config: "/etc/foundry/site.yaml"}))
	if got := d["[Service]"]["ExecStart"]; len(got) != 1 || got[0] != "/opt/foundry/bin/agent run --config /etc/foundry/site.yaml" {
		t.Errorf("ExecStart = %q", got)
	}
}

func TestPackagedUnitWaitsForItsConfig(t *testing.T) {
	plain := directives(t, Unit(Options{}))
	if _, ok := plain["[Unit]"]["ConditionPathExists"]; ok {
		t.Fatal("the bootstrap's unit must not change")
	}
	u := Unit(Options{Binary: "/usr/bin/foundry-agent", Packaged: true})
	d := directives(t, u)
	if got := d["[Unit]"]["ConditionPathExists"]; len(got) != 1 || got[0] != DefaultConfig {
		t.Fatalf("ConditionPathExists = %q", got)
	}
	if !strings.Contains(u, "foundry-agent package") || d["[Service]"]["ExecStart"][0] != "/usr/bin/foundry-agent run --config "+DefaultConfig {
		t.Fatalf("%s", u)
	}
	// everything else is the same hardened unit
	for k, v := range plain["[Service]"] {
		if k != "ExecStart" && k != "ExecStartPre" && strings.Join(d["[Service]"][k], "|") != strings.Join(v, "|") {
			t.Errorf("%s differs: %q vs %q", k, d["[Service]"][k], v)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"custom", Options{Binary: "/opt/f/agent", Config: "/etc/f/a.yaml"}, true},
		{"relative binary", Options{Binary: "bin/agent"}, false},
		{"unclean config", Options{Config: "/etc/../etc/a.yaml"}, false},
		{"space", Options{Binary: "/opt/my agent"}, false},
		{"specifier", Options{Config: "/etc/%n.yaml"}, false},
		{"variable", Options{Config: "/etc/$X.yaml"}, false},
		{"newline", Options{Binary: "/bin/a\nExecStartPre=/bin/evil"}, false},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if _, rerr := Render(tt.opts); (rerr == nil) != tt.ok || (rerr != nil && !errors.Is(rerr, ErrInvalid)) {
			t.Errorf("%s: Render error = %v", tt.name, rerr)
		}
	}
}
