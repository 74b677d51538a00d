package config

import (
	"fmt"
	"sort"
	"strings"
)

// Severity separates problems that make a config unusable from ones the
// user should know about.
type Severity int

// Severities.
const (
	SeverityError Severity = iota
	SeverityWarning
)

// String is the word printed before a warning ("error" or "warning").
func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Pos is a 1-based line and column in the config file; zero means unknown.
type Pos struct {
	Line, Col int
}

// Problem is one thing wrong with a config, where it is, and what to do.
type Problem struct {
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Col      int      `json:"column,omitempty"`
	Severity Severity `json:"-"`
	Field    string   `json:"field,omitempty"` // e.g. cluster.nodes[1].hostname
	Message  string   `json:"message"`         // what is wrong
	Fix      string   `json:"fix,omitempty"`   // what to change
}

// String renders "file:line:col: what is wrong; what to change", the form
// editors and CI logs can jump to. Warnings say so.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Message)
	if p.Fix != "" {
		b.WriteString("; ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// Problems is every problem found in one pass. As an error it lists the
// errors (not the warnings), one per line.
type Problems []Problem

// Errors returns only the problems that make the config unusable.
func (ps Problems) Errors() Problems { return ps.filter(SeverityError) }

// Warnings returns only the advisory problems.
func (ps Problems) Warnings() Problems { return ps.filter(SeverityWarning) }

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Err returns ps as an error if it holds any errors, else nil.
func (ps Problems) Err() error {
	if len(ps.Errors()) == 0 {
		return nil
	}
	return ps.Errors()
}

// Error lists every problem, one per line, in file order.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sorted orders problems by position so output follows the file.
func (ps Problems) sorted() Problems {
	out := append(Problems(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Col < out[j].Col
	})
	return out
}
