package ssh

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "''"},
		{"abc", "abc"},
		{"/usr/local/bin/foundry-agent", "/usr/local/bin/foundry-agent"},
		{"user@host:22,x+y%z", "user@host:22,x+y%z"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"'", `''\'''`},
		{"''", `''\'''\'''`},
		{"$HOME", "'$HOME'"},
		{"`id`", "'`id`'"},
		{"$(id)", "'$(id)'"},
		{"a;b", "'a;b'"},
		{"a|b&c", "'a|b&c'"},
		{"*", "'*'"},
		{"~root", "'~root'"},
		{"a=b", "'a=b'"},
		{"-n", "-n"},
		{"line1\nline2", "'line1\nline2'"},
		{`back\slash`, `'back\slash'`},
		{`"dq"`, `'"dq"'`},
		{"tab\there", "'tab\there'"},
		{"{a,b}", "'{a,b}'"},
		{"!x", "'!x'"},
		{"é", "'é'"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestQuoteArgs(t *testing.T) {
	got := QuoteArgs("sudo", "-k", "-S", "-p", "", "--", "sh", "-c", "echo 'hi' $X")
	want := `sudo -k -S -p '' -- sh -c 'echo '\''hi'\'' $X'`
	if got != want {
		t.Errorf("QuoteArgs = %s, want %s", got, want)
	}
}

// TestQuoteRoundTripsThroughSh checks with a real /bin/sh that a quoted word
// comes out byte for byte.
func TestQuoteRoundTripsThroughSh(t *testing.T) {
	l := NewLocal(LocalOptions{})
	defer l.Close()
	for _, s := range []string{"", "plain", "it's", "a b  c", "$HOME `id` $(id) ;|&<>", "*?[a]", "~", "x\ny\n", "\\\\'\"", "\t\r", "ünï ★", "-e", "--"} {
		res, err := l.Run(context.Background(), Command{Line: "printf %s " + Quote(s)})
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if res.Stdout != s {
			t.Errorf("sh printed %q for Quote(%q) = %s", res.Stdout, s, Quote(s))
		}
	}
}

// unquote parses one POSIX shell word made only of safe characters, '…'
// strings and \' escapes - the only forms Quote produces - and fails on
// anything else the shell would interpret.
func unquote(w string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(w); {
		switch c := w[i]; {
		case c == '\'':
			j := strings.IndexByte(w[i+1:], '\'')
			if j < 0 {
				return "", false
			}
			b.WriteString(w[i+1 : i+1+j])
			i += j + 2
		case c == '\\':
			if i+1 >= len(w) || w[i+1] != '\'' {
				return "", false
			}
			b.WriteByte('\'')
			i += 2
		case isSafe(string(c)):
			b.WriteByte(c)
			i++
		default:
			return "", false
		}
	}
	return b.String(), true
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", "it's", "'''", "$x", "a b", "\n", "\\'", "é", "--", "~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip("NUL cannot pass through a shell")
		}
		q := Quote(s)
		got, ok := unquote(q)
		if !ok {
			t.Fatalf("Quote(%q) = %s is not one literal shell word", s, q)
		}
		if got != s {
			t.Fatalf("Quote(%q) = %s unquotes to %q", s, q, got)
		}
		if s != "" && isSafe(s) && q != s {
			t.Fatalf("safe word %q was quoted: %s", s, q)
		}
		if utf8.ValidString(s) && !utf8.ValidString(q) {
			t.Fatalf("Quote broke UTF-8 of %q", s)
		}
	})
}
