package target

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// fieldKind decides how a field's values are read and compared.
type fieldKind int

const (
	kText     fieldKind = iota // exact, glob, natural order, ~
	kVersion                   // version order at the value's precision
	kNumber                    // plain number
	kSize                      // bytes, with size units
	kDuration                  // seconds, with duration units
)

// field is a resolved field name.
type field struct {
	name string // canonical spelling, used by String
	kind fieldKind
	text func(Host) string
	num  func(Host) float64
}

func (f field) numeric() bool { return f.kind >= kNumber }

// facts are the selectable fact fields under their canonical names (the
// JSON names of messages.Facts).
var facts = map[string]field{
	"hostname":      {kind: kText, text: func(h Host) string { return h.Facts.Hostname }},
	"machine_id":    {kind: kText, text: func(h Host) string { return h.Facts.MachineID }},
	"os":            {kind: kText, text: func(h Host) string { return h.Facts.OS }},
	"arch":          {kind: kText, text: func(h Host) string { return h.Facts.Arch }},
	"os_version":    {kind: kVersion, text: func(h Host) string { return h.Facts.OSVersion }},
	"kernel":        {kind: kVersion, text: func(h Host) string { return h.Facts.Kernel }},
	"agent_version": {kind: kVersion, text: func(h Host) string { return h.Facts.AgentVersion }},
	"cpus":          {kind: kNumber, num: func(h Host) float64 { return float64(h.Facts.CPUs) }},
	"load1":         {kind: kNumber, num: func(h Host) float64 { return h.Facts.Load1 }},
	"load5":         {kind: kNumber, num: func(h Host) float64 { return h.Facts.Load5 }},
	"load15":        {kind: kNumber, num: func(h Host) float64 { return h.Facts.Load15 }},
	"mem_total":     {kind: kSize, num: func(h Host) float64 { return float64(h.Facts.MemTotal) }},
	"mem_used":      {kind: kSize, num: func(h Host) float64 { return float64(h.Facts.MemUsed) }},
	"disk_total":    {kind: kSize, num: func(h Host) float64 { return float64(h.Facts.DiskTotal) }},
	"disk_used":     {kind: kSize, num: func(h Host) float64 { return float64(h.Facts.DiskUsed) }},
	"uptime_s":      {kind: kDuration, num: func(h Host) float64 { return float64(h.Facts.Uptime) }},
}

var factAliases = map[string]string{"uptime": "uptime_s"}

const fieldHelp = "use id, state, role, label.KEY or a fact: hostname, machine_id, os, os_version, kernel, arch, " +
	"agent_version, cpus, mem_total, mem_used, disk_total, disk_used, load1, load5, load15, uptime_s"

// lookupField resolves a typed field name or says what is wrong with it.
func lookupField(name string) (field, error) {
	lower := strings.ToLower(name)
	switch lower {
	case "id":
		return field{name: "id", kind: kText, text: func(h Host) string { return h.ID }}, nil
	case "role":
		return field{name: "role", kind: kText, text: func(h Host) string { return h.Role }}, nil
	case "state":
		return field{name: "state", kind: kText, text: func(h Host) string { return h.State }}, nil
	}
	if strings.HasPrefix(lower, "label.") || lower == "label" {
		key := name[min(len(name), len("label.")):]
		if key == "" {
			return field{}, fmt.Errorf("label needs a key, e.g. label.zone")
		}
		if strings.ContainsAny(key, "*?") {
			return field{}, fmt.Errorf("label key %q may not contain * or ?", key)
		}
		return field{name: "label." + key, kind: kText, text: func(h Host) string { return h.Labels[key] }}, nil
	}
	norm := strings.ReplaceAll(lower, ".", "_")
	if a, ok := factAliases[norm]; ok {
		norm = a
	}
	f, ok := facts[norm]
	if !ok {
		return field{}, fmt.Errorf("unknown field %q; %s", name, fieldHelp)
	}
	f.name = norm
	return f, nil
}

var numberRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$`)

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
}

var durationUnits = map[string]float64{"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

// parseNumber reads a value for a numeric field, in that field's units.
func parseNumber(f field, s string) (float64, error) {
	var example string
	switch f.kind {
	case kSize:
		example = "a size such as 8GiB (1024^3) or 500GB (1000^3)"
	case kDuration:
		example = "a duration such as 3600, 90m, 2h or 7d"
	default:
		example = "a number such as 4 or 0.5"
	}
	m := numberRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%s takes %s, not %q", f.name, example, s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%s value %q is too large", f.name, s)
	}
	unit := strings.ToLower(m[2])
	mult := 1.0
	switch f.kind {
	case kSize:
		u, ok := sizeUnits[unit]
		if !ok {
			if len(unit) == 1 && strings.Contains("kmgtp", unit) {
				up := strings.ToUpper(unit)
				return 0, fmt.Errorf("unit %q of %q is ambiguous: write %siB (powers of 1024) or %sB (powers of 1000)", m[2], s, up, up)
			}
			return 0, fmt.Errorf("%s takes %s; %q is not a size unit", f.name, example, m[2])
		}
		mult = u
	case kDuration:
		u, ok := durationUnits[unit]
		if !ok {
			return 0, fmt.Errorf("%s takes %s; %q is not a duration unit (s, m, h, d, w)", f.name, example, m[2])
		}
		mult = u
	default:
		if unit != "" {
			return 0, fmt.Errorf("%s takes %s, not %q", f.name, example, s)
		}
	}
	n *= mult
	if math.IsInf(n, 0) {
		return 0, fmt.Errorf("%s value %q is too large", f.name, s)
	}
	return n, nil
}
