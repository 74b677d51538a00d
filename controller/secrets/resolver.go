package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound means no source had the reference. It is distinct from a
// source being broken (OpenBAO sealed, a malformed ~/.foundryvars), which
// is returned as that source's own error.
var ErrNotFound = errors.New("secret not found")

// ErrEmptyValue means a source had the reference but its value is empty.
// An empty string is never a successful resolution.
var ErrEmptyValue = errors.New("secret value is empty")

// Source is one place a secret value can come from. Lookup receives the
// namespaced reference; found=false with a nil error means "not here, ask
// the next source".
type Source interface {
	Lookup(ctx context.Context, ref Ref) (value string, found bool, err error)
	Name() string
}

// Describer is implemented by sources that can say exactly where they
// looked for one reference (an env var name, a file path), so a not-found
// error tells the user what to set.
type Describer interface {
	Describe(ref Ref) string
}

// Resolver resolves references inside one namespace through an ordered
// chain of sources: environment, ~/.foundryvars, OpenBAO.
type Resolver struct {
	Namespace string
	Sources   []Source
}

// Resolution is a resolved value and the source it came from, so the CLI
// can say "from ~/.foundryvars" when an override is shadowing OpenBAO.
type Resolution struct {
	Ref    Ref // namespaced
	Value  string
	Source string
}

// Resolve returns the value of r, qualified by the resolver's namespace.
func (rs *Resolver) Resolve(ctx context.Context, r Ref) (string, error) {
	res, err := rs.ResolveFrom(ctx, r)
	if err != nil {
		return "", err
	}
	return res.Value, nil
}

// ResolveFrom is Resolve that also reports which source answered.
func (rs *Resolver) ResolveFrom(ctx context.Context, r Ref) (Resolution, error) {
	if reason := checkPathKey(r); reason != "" {
		return Resolution{}, &RefError{Text: r.String(), Reason: reason}
	}
	if rs.Namespace != "" {
		if reason := ValidNamespace(rs.Namespace); reason != "" {
			return Resolution{}, fmt.Errorf("resolve %s: %s", r, reason)
		}
	}
	q := Qualify(rs.Namespace, r)
	for _, src := range rs.Sources {
		v, found, err := src.Lookup(ctx, q)
		if err != nil {
			return Resolution{}, fmt.Errorf("resolve %s (%s) from %s: %w", r, q.PathKey(), src.Name(), err)
		}
		if !found {
			continue
		}
		if v == "" {
			return Resolution{}, fmt.Errorf("resolve %s: %w in %s; give %s a value or remove it there",
				r, ErrEmptyValue, describe(src, q), q.PathKey())
		}
		return Resolution{Ref: q, Value: v, Source: src.Name()}, nil
	}
	return Resolution{}, rs.notFound(r, q)
}

func (rs *Resolver) notFound(r, q Ref) error {
	places := make([]string, 0, len(rs.Sources))
	for _, src := range rs.Sources {
		places = append(places, describe(src, q))
	}
	where := "no sources are configured"
	if len(places) > 0 {
		where = "looked in " + strings.Join(places, ", ")
	}
	return fmt.Errorf("%w: %s (%s); %s; store it with `foundry secret set %s --key %s`",
		ErrNotFound, r, q.PathKey(), where, q.Path, q.Key)
}

// ExpandString replaces every reference embedded in s with its value.
func (rs *Resolver) ExpandString(ctx context.Context, s string) (string, error) {
	return Expand(ctx, s, rs.Resolve)
}

func describe(src Source, r Ref) string {
	if d, ok := src.(Describer); ok {
		return d.Describe(r)
	}
	return src.Name()
}
