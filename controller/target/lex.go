package target

import (
	"fmt"
	"strconv"
	"strings"
)

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tOp
	tLParen
	tRParen
	tComma
	tAnd
	tOr
	tNot
	tIn
)

// token is one lexeme; pos is its 0-based byte offset, text the word, the
// operator or the unquoted string content.
type token struct {
	kind tokKind
	pos  int
	text string
	raw  string // as typed, for messages
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tString:
		return "the string " + t.raw
	case tAnd, tOr, tNot, tIn:
		return "the keyword " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.raw)
}

// isWordByte reports whether c may appear in a bare word: a field name or
// an unquoted value.
func isWordByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("_-./:+@*?", c) >= 0
}

var keywords = map[string]tokKind{"and": tAnd, "or": tOr, "not": tNot, "in": tIn}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{kind: tLParen, pos: i, text: "(", raw: "("})
			i++
		case c == ')':
			toks = append(toks, token{kind: tRParen, pos: i, text: ")", raw: ")"})
			i++
		case c == ',':
			toks = append(toks, token{kind: tComma, pos: i, text: ",", raw: ","})
			i++
		case c == '=' || c == '~':
			toks = append(toks, token{kind: tOp, pos: i, text: string(c), raw: string(c)})
			i++
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(src) && src[i+1] == '=' {
				op += "="
			}
			toks = append(toks, token{kind: tOp, pos: i, text: op, raw: op})
			i += len(op)
		case c == '!':
			if i+1 < len(src) && src[i+1] == '=' {
				toks = append(toks, token{kind: tOp, pos: i, text: "!=", raw: "!="})
				i += 2
				continue
			}
			return nil, &SyntaxError{Expr: src, Pos: i + 1, Msg: `"!" must be followed by "=" (write not to negate)`}
		case c == '"' || c == '\'':
			t, n, err := lexString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case isWordByte(c):
			j := i
			for j < len(src) && isWordByte(src[j]) {
				j++
			}
			w := src[i:j]
			kind := tWord
			if k, ok := keywords[strings.ToLower(w)]; ok {
				kind = k
				w = strings.ToLower(w)
			}
			toks = append(toks, token{kind: kind, pos: i, text: w, raw: src[i:j]})
			i = j
		default:
			what := strconv.QuoteRune(rune(c))
			if c >= 0x80 {
				what = fmt.Sprintf("byte 0x%02x", c)
			}
			return nil, &SyntaxError{Expr: src, Pos: i + 1, Msg: fmt.Sprintf(
				"unexpected character %s; quote values that contain it", what)}
		}
	}
	return append(toks, token{kind: tEOF, pos: len(src)}), nil
}

// lexString reads a quoted string starting at src[i]. Double quotes take
// \" and \\ escapes; single quotes are literal, as in the shell.
func lexString(src string, i int) (token, int, error) {
	q := src[i]
	var b strings.Builder
	j := i + 1
	for j < len(src) {
		c := src[j]
		switch {
		case c == q:
			return token{kind: tString, pos: i, text: b.String(), raw: src[i : j+1]}, j + 1, nil
		case c == '\\' && q == '"':
			if j+1 < len(src) && (src[j+1] == '"' || src[j+1] == '\\') {
				b.WriteByte(src[j+1])
				j += 2
				continue
			}
			return token{}, 0, &SyntaxError{Expr: src, Pos: j + 1, Msg: `only \" and \\ may follow a backslash in a "string"`}
		default:
			b.WriteByte(c)
			j++
		}
	}
	return token{}, 0, &SyntaxError{Expr: src, Pos: i + 1, Msg: fmt.Sprintf("string is not closed; add a closing %c", q)}
}
