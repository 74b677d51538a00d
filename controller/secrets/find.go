package secrets

import (
	"context"
	"strings"
)

// Match is one reference found in a larger string, with its byte range, so
// a caller can substitute it or point at it.
type Match struct {
	Ref        Ref
	Start, End int // s[Start:End] is the whole "${secret:...}"
}

// FindRefs returns every reference embedded in s, in order. Text that
// starts like a reference ("${secret", in any letter case) but is not a
// well-formed one is an error rather than literal text: a typo must not
// silently become a password. Other ${...} forms are left alone.
func FindRefs(s string) ([]Match, error) {
	var out []Match
	for i := 0; i < len(s); {
		j := indexFold(s[i:], "${secret")
		if j < 0 {
			break
		}
		start := i + j
		m, err := parseAt(s, start)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		i = m.End
	}
	return out, nil
}

// HasRef reports whether s holds at least one well-formed reference.
func HasRef(s string) bool {
	ms, err := FindRefs(s)
	return err == nil && len(ms) > 0
}

func parseAt(s string, start int) (Match, error) {
	rest := s[start:]
	end := strings.IndexByte(rest, '}')
	text := rest
	if end >= 0 {
		text = rest[:end+1]
	}
	fail := func(reason string) (Match, error) {
		return Match{}, &RefError{Offset: start, Text: snippet(text), Reason: reason}
	}
	if !strings.HasPrefix(rest, RefPrefix) {
		if hasPrefixFold(rest, RefPrefix) {
			return fail(`"secret" must be lower case`)
		}
		return fail(`expected ':' right after "${secret"`)
	}
	if end < 0 {
		return fail("missing closing '}'")
	}
	body := rest[len(RefPrefix):end]
	if strings.Contains(body, "${") {
		return fail("missing closing '}' before the next '${'")
	}
	path, key, ok := strings.Cut(body, ":")
	if !ok {
		return fail(`missing ":key" after the path`)
	}
	r := Ref{Path: path, Key: key}
	if reason := checkPathKey(r); reason != "" {
		return fail(reason)
	}
	return Match{Ref: r, Start: start, End: start + end + 1}, nil
}

// indexFold is strings.Index ignoring ASCII case only; sub must be lower
// case ASCII.
func indexFold(s, sub string) int {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if hasPrefixFold(s[i:], sub) {
			return i
		}
	}
	return -1
}

func hasPrefixFold(s, lowerPrefix string) bool {
	if len(s) < len(lowerPrefix) {
		return false
	}
	for i := 0; i < len(lowerPrefix); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lowerPrefix[i] {
			return false
		}
	}
	return true
}

// Expand replaces every reference in s with its value from lookup. It is
// how a config value like "postgres://app:${secret:db:password}@db" becomes
// usable; an error names the reference, never a value.
func Expand(ctx context.Context, s string, lookup func(context.Context, Ref) (string, error)) (string, error) {
	ms, err := FindRefs(s)
	if err != nil {
		return "", err
	}
	if len(ms) == 0 {
		return s, nil
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		v, err := lookup(ctx, m.Ref)
		if err != nil {
			return "", err
		}
		b.WriteString(s[last:m.Start])
		b.WriteString(v)
		last = m.End
	}
	b.WriteString(s[last:])
	return b.String(), nil
}
