package target

import (
	"strings"
)

// Precedences, lowest first; String uses them to print only the
// parentheses that are needed.
const (
	precOr = iota + 1
	precAnd
	precNot
	precCond
)

type orExpr []Expr

func (e orExpr) Match(h Host) bool {
	for _, x := range e {
		if x.Match(h) {
			return true
		}
	}
	return false
}

func (e orExpr) String() string { return join(e, " or ", precOr) }
func (orExpr) prec() int        { return precOr }

type andExpr []Expr

func (e andExpr) Match(h Host) bool {
	for _, x := range e {
		if !x.Match(h) {
			return false
		}
	}
	return true
}

func (e andExpr) String() string { return join(e, " and ", precAnd) }
func (andExpr) prec() int        { return precAnd }

type notExpr struct{ x Expr }

func (e notExpr) Match(h Host) bool { return !e.x.Match(h) }
func (e notExpr) String() string    { return "not " + wrap(e.x, precNot) }
func (notExpr) prec() int           { return precNot }

func join(xs []Expr, sep string, p int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = wrap(x, p)
	}
	return strings.Join(parts, sep)
}

// wrap parenthesises x when it binds looser than its context.
func wrap(x Expr, ctx int) string {
	if x.prec() < ctx {
		return "(" + x.String() + ")"
	}
	return x.String()
}

// value is one right-hand side, already checked against its field.
type value struct {
	text string  // unquoted content
	glob bool    // unquoted and contains * or ?
	num  float64 // for numeric fields
	segs []string
}

// cond is one comparison, or an in-list when in is set (op is then "=").
type cond struct {
	f      field
	op     string
	in     bool
	values []value
}

func (c cond) prec() int { return precCond }

func (c cond) String() string {
	if c.in {
		parts := make([]string, len(c.values))
		for i, v := range c.values {
			parts[i] = v.format()
		}
		return c.f.name + " in (" + strings.Join(parts, ",") + ")"
	}
	return c.f.name + c.op + c.values[0].format()
}

func (c cond) Match(h Host) bool {
	for _, v := range c.values {
		if c.matchOne(h, v) {
			return true
		}
	}
	return false
}

func (c cond) matchOne(h Host, v value) bool {
	if c.f.numeric() {
		return compare(c.op, cmpFloat(c.f.num(h), v.num))
	}
	s := c.f.text(h)
	switch {
	case c.op == "~":
		return boundaryPrefix(s, v.text)
	case v.glob:
		return globMatch(v.text, s) == (c.op == "=")
	case c.f.kind == kVersion && len(v.segs) > 0:
		return compare(c.op, versionCompare(versionSegments(s), v.segs))
	case c.op == "=":
		return s == v.text
	case c.op == "!=":
		return s != v.text
	}
	return compare(c.op, naturalCompare(s, v.text))
}

// compare turns a three-way comparison into the operator's answer.
func compare(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// format prints v so that the lexer reads back the same value: bare when
// it can be, otherwise in double quotes. A literal value that contains a
// glob character is quoted so it stays literal.
func (v value) format() string {
	if v.text != "" && (v.glob || !strings.ContainsAny(v.text, "*?")) && bareSafe(v.text) {
		return v.text
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v.text); i++ {
		if c := v.text[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v.text[i])
	}
	b.WriteByte('"')
	return b.String()
}

func bareSafe(s string) bool {
	if _, kw := keywords[strings.ToLower(s)]; kw {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

// globMatch reports whether s matches pattern, where * is any run of
// bytes and ? exactly one byte.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// boundaryPrefix is ~: s starts with prefix and does not continue the
// prefix's last digit run or letter run.
func boundaryPrefix(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) {
		return false
	}
	if len(s) == len(prefix) || prefix == "" {
		return true
	}
	last, next := prefix[len(prefix)-1], s[len(prefix)]
	return !(isDigit(last) && isDigit(next) || isLetter(last) && isLetter(next))
}

// versionSegments splits a version into runs of digits and runs of
// letters; everything else separates.
func versionSegments(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		switch {
		case isDigit(s[i]):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case isLetter(s[i]):
			j := i
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			i++
		}
	}
	return out
}

// versionCompare compares have, cut to len(want) segments, with want. A
// shorter have sorts first (12 < 12.8).
func versionCompare(have, want []string) int {
	for i, w := range want {
		if i >= len(have) {
			return -1
		}
		if c := segmentCompare(have[i], w); c != 0 {
			return c
		}
	}
	return 0
}

// segmentCompare orders numbers numerically (without overflow, however
// long), numbers before words, and words as strings.
func segmentCompare(a, b string) int {
	an, bn := isDigit(a[0]), isDigit(b[0])
	switch {
	case an && bn:
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return cmpInt(len(a), len(b))
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// naturalCompare orders text so that digit runs compare as numbers:
// web-9 < web-10. It is 0 only for equal strings.
func naturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			i2, j2 := i, j
			for i2 < len(a) && isDigit(a[i2]) {
				i2++
			}
			for j2 < len(b) && isDigit(b[j2]) {
				j2++
			}
			if c := segmentCompare(a[i:i2], b[j:j2]); c != 0 {
				return c
			}
			// Same number: fewer leading zeros first, so only equal
			// strings compare equal.
			if c := cmpInt(i2-i, j2-j); c != 0 {
				return c
			}
			i, j = i2, j2
			continue
		}
		if a[i] != b[j] {
			return cmpInt(int(a[i]), int(b[j]))
		}
		i++
		j++
	}
	return cmpInt(len(a)-i, len(b)-j)
}
