package secrets

import (
	"errors"
	"fmt"
	"strings"
)

// RefPrefix opens every secret reference. Configs write
// ${secret:path/to/secret:key}; anything else starting with "${secret" is
// a mistake, not literal text, so the parser reports it.
const RefPrefix = "${secret:"

// ErrMalformedRef is wrapped by every reference parse error, so callers
// can tell "this config is wrong" from "OpenBAO is down".
var ErrMalformedRef = errors.New("malformed secret reference")

// Ref names one key of one secret: Path is the secret (slash-separated
// segments), Key the field inside it. A Ref is a name, never a value, so it
// is safe to print.
type Ref struct {
	Path string
	Key  string
}

// String renders the reference in config syntax, so errors and `config
// show` print exactly what the user wrote.
func (r Ref) String() string { return RefPrefix + r.Path + ":" + r.Key + "}" }

// PathKey renders "path:key", the form the CLI and ~/.foundryvars use.
func (r Ref) PathKey() string { return r.Path + ":" + r.Key }

// RefError says what is wrong with one reference and where it starts in
// the text, so the config loader can point at the right column.
type RefError struct {
	Offset int    // byte offset of "${secret" in the text
	Text   string // the offending reference (a name, never a value)
	Reason string
}

// Error says what is wrong and how the reference should look.
func (e *RefError) Error() string {
	return fmt.Sprintf("%s %q: %s; write it as ${secret:path/to/secret:key}", ErrMalformedRef, e.Text, e.Reason)
}

// Unwrap lets errors.Is(err, ErrMalformedRef) work.
func (e *RefError) Unwrap() error { return ErrMalformedRef }

// ParseRef parses a string that must be exactly one reference, such as a
// CLI argument or a config value meant to hold only a reference.
func ParseRef(s string) (Ref, error) {
	ms, err := FindRefs(s)
	if err != nil {
		return Ref{}, err
	}
	if len(ms) != 1 || ms[0].Start != 0 || ms[0].End != len(s) {
		return Ref{}, &RefError{Text: snippet(s), Reason: "expected exactly one reference and nothing around it"}
	}
	return ms[0].Ref, nil
}

// ParsePathKey parses the CLI and ~/.foundryvars form "path/to/secret:key".
func ParsePathKey(s string) (Ref, error) {
	path, key, ok := strings.Cut(s, ":")
	if !ok {
		return Ref{}, &RefError{Text: snippet(s), Reason: `missing ":key" after the path`}
	}
	r := Ref{Path: path, Key: key}
	if reason := checkPathKey(r); reason != "" {
		return Ref{}, &RefError{Text: snippet(s), Reason: reason}
	}
	return r, nil
}

// ValidPath reports why p is not a usable secret path ("" when it is), for
// verbs that take a path without a key.
func ValidPath(p string) string { return checkPath(p) }

func checkPathKey(r Ref) string {
	if reason := checkPath(r.Path); reason != "" {
		return reason
	}
	if r.Key == "" {
		return "the key after ':' is empty"
	}
	if strings.Contains(r.Key, ":") {
		return "more than one ':'; paths and keys cannot contain ':'"
	}
	if !validSegment(r.Key) {
		return fmt.Sprintf("key %q may only hold letters, digits, '.', '_' and '-'", r.Key)
	}
	return ""
}

func checkPath(p string) string {
	if p == "" {
		return "the path is empty"
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return "the path must not start or end with '/'"
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			return "the path has an empty segment ('//')"
		}
		if seg == "." || seg == ".." {
			return "the path must not contain '.' or '..' segments"
		}
		if !validSegment(seg) {
			return fmt.Sprintf("path segment %q may only hold letters, digits, '.', '_' and '-'", seg)
		}
	}
	return ""
}

func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// snippet bounds what of the input an error repeats.
func snippet(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
