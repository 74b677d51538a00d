package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// The syntax checks below return "" when the value is fine, or the reason
// it is not, phrased to follow the value in a sentence.

// checkDNSLabel: one RFC 1123 label, lower case (cluster names become
// Kubernetes and OpenBAO names, which are lower case).
func checkDNSLabel(s string) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > 63 {
		return "is longer than 63 characters"
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return "starts or ends with '-'"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "may only hold lower-case letters, digits and '-'"
		}
	}
	return ""
}

// checkHostname: an RFC 1123 host name (letters, digits, '-' in labels of
// at most 63, at most 253 in all), not an IP address.
func checkHostname(s string) string {
	if s == "" {
		return "is empty"
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "is an IP address, not a name"
	}
	if len(s) > 253 {
		return "is longer than 253 characters"
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			return "has an empty label (two dots in a row, or a leading or trailing dot)"
		}
		if len(label) > 63 {
			return fmt.Sprintf("has a label longer than 63 characters (%.20s…)", label)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Sprintf("has a label starting or ending with '-' (%s)", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("holds %q; host names may only hold letters, digits, '-' and '.'", string(c))
			}
		}
	}
	return ""
}

// checkDomain: a DNS name of at least one label whose last label is not
// all digits (so it cannot be mistaken for an address).
func checkDomain(s string) string {
	if r := checkHostname(s); r != "" {
		return r
	}
	labels := strings.Split(s, ".")
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return "ends in an all-numeric label"
	}
	if strings.ToLower(s) != s {
		return "has upper-case letters; DNS names are written in lower case"
	}
	return ""
}

// versionPattern accepts semver-ish versions: 2, 2.1, 2.1.0,
// v1.28.5+k3s1, 1.0.0-rc.1. Patterns are constants and compiled where
// used: validation runs them a handful of times per file.
const versionPattern = `^v?[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`

func checkVersion(s string) string {
	if strings.EqualFold(s, "latest") {
		return `is "latest"; omit version to get the latest release`
	}
	if !regexp.MustCompile(versionPattern).MatchString(s) {
		return "is not a version like 2.1.0, v1.28.5+k3s1 or 1.0.0-rc.1"
	}
	return ""
}

// sizePattern is a Kubernetes quantity.
const sizePattern = `^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$`

// checkSize: a Kubernetes quantity such as 100Gi or 1Ti.
func checkSize(s string) string {
	if !regexp.MustCompile(sizePattern).MatchString(s) {
		return "is not a size like 500Gi or 1Ti"
	}
	return ""
}

// retentionPattern is a Prometheus duration.
const retentionPattern = `^([0-9]+(ms|s|m|h|d|w|y))+$`

// checkRetention: a Prometheus/Loki duration such as 30d or 12h.
func checkRetention(s string) string {
	if !regexp.MustCompile(retentionPattern).MatchString(s) || strings.Trim(s, "0msdhwy") == "" {
		return "is not a duration like 30d, 12h or 2w"
	}
	return ""
}

// isLabelName: up to 63 of [A-Za-z0-9_.-], starting and ending with a
// letter or digit (Kubernetes label names and values). Written by hand:
// it runs once per label, so it must be cheap.
func isLabelName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// checkLabelKey: a Kubernetes label key, [prefix/]name.
func checkLabelKey(k string) string {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix {
		if r := checkHostname(prefix); r != "" || strings.ToLower(prefix) != prefix {
			return "has a prefix that is not a lower-case DNS name"
		}
	}
	if !isLabelName(name) {
		return "is not a label name (up to 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)"
	}
	return ""
}

// checkLabelValue: a Kubernetes label value (may be empty).
func checkLabelValue(v string) string {
	if v != "" && !isLabelName(v) {
		return "is not a label value (up to 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)"
	}
	return ""
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// ValidName checks a cluster name the way Validate does, for wizards that
// re-ask instead of failing at the end.
func ValidName(s string) error { return reasonErr("cluster name", s, checkDNSLabel(s)) }

// ValidDomain checks a cluster domain the way Validate does.
func ValidDomain(s string) error { return reasonErr("domain", s, checkDomain(s)) }

// ValidHostname checks a host name the way Validate does.
func ValidHostname(s string) error { return reasonErr("host name", s, checkHostname(s)) }

func reasonErr(what, s, reason string) error {
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%s %q %s", what, s, reason)
}
