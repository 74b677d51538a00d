package secrets

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// VarsFileName is the local override file in the user's home directory.
const VarsFileName = ".foundryvars"

// maxVarsLine bounds one line of ~/.foundryvars (a PEM key fits easily).
const maxVarsLine = 1 << 20

// ErrMalformedVars is wrapped when ~/.foundryvars has bad lines; the
// error lists every bad line number and never repeats a value.
var ErrMalformedVars = errors.New("malformed .foundryvars")

// VarsLineError is one bad line of ~/.foundryvars.
type VarsLineError struct {
	Line   int
	Reason string
}

// Error names the line and the problem, never the value.
func (e VarsLineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// VarsError carries every bad line, so the user fixes the file in one go.
type VarsError struct {
	File  string
	Lines []VarsLineError
}

// Error lists every bad line and the expected format.
func (e *VarsError) Error() string {
	parts := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		parts[i] = l.Error()
	}
	name := e.File
	if name == "" {
		name = VarsFileName
	}
	return fmt.Sprintf("%s: %v: %s; each line must be namespace/path:key=value or a # comment",
		name, ErrMalformedVars, strings.Join(parts, "; "))
}

// Unwrap lets errors.Is(err, ErrMalformedVars) work.
func (e *VarsError) Unwrap() error { return ErrMalformedVars }

// ParseVars parses the ~/.foundryvars format: one
// "namespace/path/to/secret:key=value" per line, blank lines and lines
// starting with '#' ignored, whitespace around the name and the value
// trimmed. The value is everything after the first '=' (so it may contain
// '='). Keys are full namespaced paths. Every bad line is reported by
// number; the returned error never quotes a value.
func ParseVars(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	var bad []VarsLineError
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxVarsLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			bad = append(bad, VarsLineError{n, "missing '=' between path:key and value"})
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		ref, err := ParsePathKey(name)
		if err != nil {
			var re *RefError
			reason := "bad path:key"
			if errors.As(err, &re) {
				reason = "bad path:key before '=': " + re.Reason
			}
			bad = append(bad, VarsLineError{n, reason})
			continue
		}
		if value == "" {
			bad = append(bad, VarsLineError{n, fmt.Sprintf("empty value for %s", ref.PathKey())})
			continue
		}
		if _, dup := out[ref.PathKey()]; dup {
			bad = append(bad, VarsLineError{n, fmt.Sprintf("%s is set more than once", ref.PathKey())})
			continue
		}
		out[ref.PathKey()] = value
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			bad = append(bad, VarsLineError{n + 1, "line is longer than 1 MiB"})
		} else {
			return nil, fmt.Errorf("read %s: %w", VarsFileName, err)
		}
	}
	if len(bad) > 0 {
		return nil, &VarsError{Lines: bad}
	}
	return out, nil
}

// VarsSource answers from ~/.foundryvars, for local development without
// OpenBAO. A missing file simply has nothing; a malformed one is an error
// (a typo must not silently fall through to another value).
type VarsSource struct {
	Path string

	once sync.Once
	vars map[string]string
	err  error
}

// DefaultVarsPath is ~/.foundryvars in the user's home directory.
func DefaultVarsPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory for %s: %w", VarsFileName, err)
	}
	return filepath.Join(home, VarsFileName), nil
}

// Name identifies the source in errors.
func (v *VarsSource) Name() string { return v.Path }

// Describe names the file and the line to add.
func (v *VarsSource) Describe(r Ref) string {
	return fmt.Sprintf("%s (line %s=…)", v.Path, r.PathKey())
}

// Lookup loads the file once and answers from it.
func (v *VarsSource) Lookup(_ context.Context, r Ref) (string, bool, error) {
	v.once.Do(v.load)
	if v.err != nil {
		return "", false, v.err
	}
	val, ok := v.vars[r.PathKey()]
	return val, ok, nil
}

func (v *VarsSource) load() {
	f, err := os.Open(v.Path)
	if errors.Is(err, fs.ErrNotExist) {
		v.vars = map[string]string{}
		return
	}
	if err != nil {
		v.err = fmt.Errorf("open %s: %w", v.Path, err)
		return
	}
	defer f.Close()
	vars, err := ParseVars(f)
	var ve *VarsError
	if errors.As(err, &ve) {
		ve.File = v.Path
	}
	v.vars, v.err = vars, err
}
