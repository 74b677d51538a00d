// Package target is the host-selection language behind --where: a short
// boolean expression over a host's id, role, labels and facts that is easy
// to type in a shell and is checked completely before any host is touched.
//
// # Syntax
//
// An expression is one or more conditions joined with and, or and not,
// grouped with parentheses. not binds tightest, then and, then or, so
//
//	role=web or role=db and not os=ubuntu
//
// means role=web or (role=db and (not os=ubuntu)). Always quote the whole
// expression in the shell, with single quotes: < and > are redirections
// there.
//
// A condition is a field, an operator and a value, with or without spaces:
//
//	id=web-1            exact
//	id=web-*            glob: * is any run of characters, ? exactly one
//	role!=db            not equal
//	label.zone=eu1      a label; a host without that label has ""
//	os in (debian,ubuntu)
//	cpus>=4             numbers compare as numbers
//	mem_total>8GiB      sizes: B, KB MB GB TB PB (powers of 1000) and
//	                    KiB MiB GiB TiB PiB (powers of 1024), any case
//	uptime_s>2h         durations: s, m, h, d, w (plain numbers are seconds)
//	os_version>=12      versions compare in version order (see below)
//	kernel~6.1          prefix up to a boundary (see below)
//
// Operators are = != < <= > >= ~ and in (a,b,...). in matches when = would
// match any of the values. Negate anything with not: not os in (a,b).
//
// Values are bare words (letters, digits and _ - . / : + @ * ?) or double-
// or single-quoted strings. Quoted values are always literal: "web-*"
// matches only a host whose id is web-*, and quotes are needed for a value
// with spaces or one that is a keyword ("and", "or", "not", "in").
// Comparisons of text are case-sensitive (facts are lowercase).
//
// # Fields
//
//	id                  host id
//	role                host role
//	label.KEY           label KEY (KEY is taken verbatim)
//	hostname machine_id os arch                    text
//	os_version kernel agent_version                version
//	cpus load1 load5 load15                        number
//	mem_total mem_used disk_total disk_used        size in bytes
//	uptime_s                                       duration
//
// In fact names '.' and '_' are the same and case does not matter, so
// os.version, OS_VERSION and mem.total are accepted too; uptime is
// uptime_s.
//
// # Versions and ~
//
// Version fields compare segment by segment, where a segment is a run of
// digits (compared as a number) or of letters; other characters only
// separate. The host's version is cut to as many segments as the value
// has, so os_version=12 matches 12 and 12.8, kernel>=6.1 matches
// 6.1.0-18-amd64, and kernel<6.10 matches 6.9.
//
// a~b is a prefix match that stops at a boundary: the field starts with b,
// and the field does not go on with a digit right after a digit of b or a
// letter right after a letter. kernel~6.1 matches 6.1 and 6.1.0-18-amd64
// but not 6.10.2; id~web matches web-1 but not webserver. It works on any
// text or version field.
//
// # Errors
//
// Parse checks fields, operators and values and returns a *SyntaxError
// that names the 1-based byte position and what was expected there, e.g.
// `position 14: expected a value after "="`.
package target

import (
	"fmt"
	"strings"

	"github.com/foundry-fleet/foundry/messages"
)

// Host is what an expression is evaluated against. It is a plain struct,
// not a registry record, so targeting has no dependency on where hosts come
// from.
type Host struct {
	ID string
	// State is the registry's liveness state (online, stale, offline,
	// disconnected), so an operator can leave away hosts out explicitly.
	State  string
	Role   string
	Labels map[string]string
	Facts  messages.Facts
}

// Expr is a parsed expression. String returns a canonical form that Parse
// reads back to an equivalent expression, so it can be logged, stored in a
// job record or shown in a dry run.
type Expr interface {
	Match(h Host) bool
	String() string
	prec() int
}

// Limits keep a typo or hostile input from costing more than a moment.
const (
	// MaxLength is the longest expression Parse accepts, in bytes.
	MaxLength = 4096
	// MaxDepth bounds nesting of parentheses and not.
	MaxDepth = 64
)

// SyntaxError is a refused expression. Pos is the 1-based byte position
// of the problem (one past the end when something is missing at the end).
type SyntaxError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("position %d: %s", e.Pos, e.Msg) }

// Caret returns the expression and a second line with a caret under the
// position, for a CLI to print under the error.
func (e *SyntaxError) Caret() string {
	return e.Expr + "\n" + strings.Repeat(" ", max(e.Pos-1, 0)) + "^"
}

// Parse reads an expression. It never panics, whatever the input.
func Parse(expr string) (Expr, error) {
	if len(expr) > MaxLength {
		return nil, &SyntaxError{Expr: expr, Pos: MaxLength + 1,
			Msg: fmt.Sprintf("expression is %d bytes, longer than the limit of %d", len(expr), MaxLength)}
	}
	return parse(expr)
}

// parse is Parse without the length limit, which is policy rather than
// grammar: the canonical form of a long expression may be a little longer
// than what was typed.
func parse(expr string) (Expr, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{src: expr, toks: toks}
	if p.peek().kind == tEOF {
		return nil, p.errAt(p.peek(), "expected a condition such as role=web")
	}
	e, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, p.errAt(t, `found ")" with no "(" before it`)
		}
		return nil, p.errAt(t, fmt.Sprintf(`expected "and", "or" or the end of the expression, found %s`, t.describe()))
	}
	return e, nil
}

// MustParse is Parse for expressions fixed at compile time.
func MustParse(expr string) Expr {
	e, err := Parse(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// Select returns the hosts that e matches, in their order.
func Select(e Expr, hosts []Host) []Host {
	var out []Host
	for _, h := range hosts {
		if e.Match(h) {
			out = append(out, h)
		}
	}
	return out
}
