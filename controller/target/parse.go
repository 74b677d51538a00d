package target

import (
	"fmt"
	"strconv"
	"strings"
)

// parser is a recursive-descent parser over the token list:
//
//	or    = and { "or" and }
//	and   = unary { "and" unary }
//	unary = "not" unary | "(" or ")" | cond
//	cond  = field op value | field "in" "(" value { "," value } ")"
type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// prev is the token before the current one, for "after X" messages.
func (p *parser) prev() token {
	if p.i == 0 {
		return token{kind: tEOF}
	}
	return p.toks[p.i-1]
}

func (p *parser) errAt(t token, msg string) error {
	return &SyntaxError{Expr: p.src, Pos: t.pos + 1, Msg: msg}
}

func (p *parser) parseOr(depth int) (Expr, error) {
	x, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	xs := flatten[orExpr](nil, x)
	for p.peek().kind == tOr {
		p.next()
		y, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		xs = flatten[orExpr](xs, y)
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return orExpr(xs), nil
}

func (p *parser) parseAnd(depth int) (Expr, error) {
	x, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	xs := flatten[andExpr](nil, x)
	for p.peek().kind == tAnd {
		p.next()
		y, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		xs = flatten[andExpr](xs, y)
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return andExpr(xs), nil
}

// flatten appends x to xs, splicing in x's children when x is the same
// n-ary operator (a parenthesised "a or b" inside an or).
func flatten[T ~[]Expr](xs []Expr, x Expr) []Expr {
	if same, ok := x.(T); ok {
		return append(xs, same...)
	}
	return append(xs, x)
}

func (p *parser) parseUnary(depth int) (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tNot, tLParen:
		if depth >= MaxDepth {
			return nil, p.errAt(t, fmt.Sprintf("expression nests deeper than %d levels", MaxDepth))
		}
	}
	switch t.kind {
	case tNot:
		p.next()
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notExpr{x}, nil
	case tLParen:
		p.next()
		if p.peek().kind == tRParen {
			return nil, p.errAt(p.peek(), `expected a condition inside "()"`)
		}
		x, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, p.errAt(c, fmt.Sprintf(`expected ")" to close the "(" at position %d, found %s`, t.pos+1, c.describe()))
		}
		p.next()
		return x, nil
	}
	return p.parseCond()
}

func (p *parser) parseCond() (Expr, error) {
	t := p.peek()
	if t.kind != tWord {
		msg := "expected a condition such as role=web"
		if pr := p.prev(); pr.kind == tAnd || pr.kind == tOr || pr.kind == tNot || pr.kind == tLParen {
			msg = fmt.Sprintf("expected a condition after %q", pr.text)
		}
		switch t.kind {
		case tEOF:
		case tString:
			msg += fmt.Sprintf(", found %s (a field name is not quoted)", t.describe())
		default:
			msg += ", found " + t.describe()
		}
		return nil, p.errAt(t, msg)
	}
	p.next()
	f, err := lookupField(t.text)
	if err != nil {
		return nil, p.errAt(t, err.Error())
	}
	opTok := p.next()
	switch opTok.kind {
	case tIn:
		return p.parseIn(f, t)
	case tOp:
	default:
		return nil, p.errAt(opTok, fmt.Sprintf(`expected an operator (= != < <= > >= ~ or in) after %q, found %s`, t.text, opTok.describe()))
	}
	if opTok.text == "~" && f.numeric() {
		return nil, p.errAt(opTok, fmt.Sprintf(`~ matches text; %s is a number, compare it with = != < <= > >=`, f.name))
	}
	vt := p.next()
	v, err := p.value(f, opTok.text, vt, fmt.Sprintf("after %q", opTok.text))
	if err != nil {
		return nil, err
	}
	return cond{f: f, op: opTok.text, values: []value{v}}, nil
}

func (p *parser) parseIn(f field, ft token) (Expr, error) {
	open := p.next()
	if open.kind != tLParen {
		return nil, p.errAt(open, fmt.Sprintf(`expected "(" after "in", e.g. %s in (a,b), found %s`, ft.text, open.describe()))
	}
	c := cond{f: f, op: "=", in: true}
	for {
		vt := p.next()
		if vt.kind == tRParen && len(c.values) == 0 {
			return nil, p.errAt(vt, `expected at least one value in "in (...)"`)
		}
		where := "in the list"
		if len(c.values) == 0 {
			where = `after "in ("`
		}
		v, err := p.value(f, "=", vt, where)
		if err != nil {
			return nil, err
		}
		c.values = append(c.values, v)
		sep := p.next()
		switch sep.kind {
		case tComma:
			continue
		case tRParen:
			return c, nil
		}
		return nil, p.errAt(sep, fmt.Sprintf(`expected "," or ")" in the list that starts at position %d, found %s`, open.pos+1, sep.describe()))
	}
}

// value checks one value token against its field and operator.
func (p *parser) value(f field, op string, t token, where string) (value, error) {
	switch t.kind {
	case tWord, tString:
	case tAnd, tOr, tNot, tIn:
		return value{}, p.errAt(t, fmt.Sprintf(`expected a value %s, found the keyword %q; quote it to use it as a value: "%s"`, where, t.text, t.raw))
	case tEOF:
		return value{}, p.errAt(t, "expected a value "+where)
	default:
		return value{}, p.errAt(t, fmt.Sprintf("expected a value %s, found %s", where, t.describe()))
	}
	v := value{text: t.text, glob: t.kind == tWord && strings.ContainsAny(t.text, "*?")}
	if f.numeric() {
		if v.glob {
			return value{}, p.errAt(t, fmt.Sprintf("%s is a number; * and ? work only on text fields", f.name))
		}
		n, err := parseNumber(f, v.text)
		if err != nil {
			return value{}, p.errAt(t, err.Error())
		}
		v.num = n
		return v, nil
	}
	if v.glob && op != "=" && op != "!=" {
		return value{}, p.errAt(t, fmt.Sprintf("* and ? work with = and != only; quote %s to compare it literally", strconv.Quote(v.text)))
	}
	if op == "~" && v.text == "" {
		return value{}, p.errAt(t, `~ needs a prefix to match, e.g. kernel~6.1`)
	}
	if f.kind == kVersion {
		v.segs = versionSegments(v.text)
	}
	return v, nil
}
