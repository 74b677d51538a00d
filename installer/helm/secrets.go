package helm

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// Masked is what a secret value prints as.
const Masked = "<secret>"

// SecretLookup resolves one reference; (*secrets.Resolver).Resolve is one.
type SecretLookup func(ctx context.Context, r secrets.Ref) (string, error)

// Resolved are values with every reference replaced by its value. They
// live in memory only: they go to Helm (which stores them in the
// cluster, in its release Secret) and nowhere else.
type Resolved struct {
	Values Values
	// secrets are the values that came from references, to mask them
	// wherever rendered text is shown.
	secrets []string
}

// Resolve replaces every ${secret:...} in v's strings, returning a copy.
func Resolve(ctx context.Context, v Values, lookup SecretLookup) (Resolved, error) {
	var found []string
	rec := func(ctx context.Context, r secrets.Ref) (string, error) {
		s, err := lookup(ctx, r)
		if err == nil {
			found = append(found, s)
		}
		return s, err
	}
	out, err := walk(v, func(s string) (string, error) {
		ms, err := secrets.FindRefs(s)
		if err != nil || len(ms) == 0 {
			return s, err
		}
		return secrets.Expand(ctx, s, rec)
	})
	if err != nil {
		return Resolved{}, fmt.Errorf("chart values: %w", err)
	}
	return Resolved{Values: out.(Values), secrets: found}, nil
}

// Redacted is v with every string that holds a reference shown as
// <secret>, for --dry-run output.
func Redacted(v Values) Values {
	out, _ := walk(v, func(s string) (string, error) {
		if ms, err := secrets.FindRefs(s); err != nil || len(ms) > 0 {
			return Masked, nil
		}
		return s, nil
	})
	return out.(Values)
}

// Mask replaces the resolved secret values, and their base64 forms (a
// Secret's data), in rendered text. Longer values first, so a secret that
// contains another is masked whole.
func (r Resolved) Mask(text string) string {
	var olds []string
	for _, s := range r.secrets {
		if len(s) < 4 { // masking "ab" everywhere would garble, not protect
			continue
		}
		olds = append(olds, s, base64.StdEncoding.EncodeToString([]byte(s)))
	}
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	for _, o := range olds {
		text = strings.ReplaceAll(text, o, Masked)
	}
	return text
}

// walk copies a values tree, mapping every string through f.
func walk(v any, f func(string) (string, error)) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			y, err := walk(x, f)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			y, err := walk(x, f)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case string:
		return f(t)
	}
	return v, nil
}
