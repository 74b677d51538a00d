package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// RefCheck is where one ${secret:…} of the config resolves from. It never
// holds the value: validate reports sources, not secrets.
type RefCheck struct {
	Field  string `json:"field"`
	Line   int    `json:"line"`
	Col    int    `json:"col"`
	Ref    string `json:"ref"`
	Source string `json:"source,omitempty"` // empty when it did not resolve
}

// CheckRefs asks r for every well-formed reference in the file, so a
// reference that nothing can answer shows up at validate time rather than
// halfway through an install. Unresolved ones (not found, or a source that
// failed) come back as warnings: the secret may be stored later, on
// another machine, or OpenBAO may simply be sealed now.
func (f *File) CheckRefs(ctx context.Context, r *secrets.Resolver) ([]RefCheck, Problems) {
	var out []RefCheck
	var ps Problems
	for _, s := range f.dec.scalars {
		ms, err := secrets.FindRefs(s.value)
		if err != nil {
			continue // malformed: Validate reports it as an error
		}
		for _, m := range ms {
			c := RefCheck{Field: s.path, Line: s.pos.Line, Col: s.pos.Col, Ref: m.Ref.String()}
			res, err := r.ResolveFrom(ctx, m.Ref)
			if err == nil {
				c.Source = res.Source
				out = append(out, c)
				continue
			}
			out = append(out, c)
			msg := fmt.Sprintf("%s: secret %s does not resolve from any source", s.path, m.Ref)
			if !errors.Is(err, secrets.ErrNotFound) {
				msg = fmt.Sprintf("%s: secret %s could not be checked", s.path, m.Ref)
			}
			ps = append(ps, Problem{File: f.Path, Line: s.pos.Line, Col: s.pos.Col, Field: s.path,
				Severity: SeverityWarning, Message: msg, Fix: err.Error()})
		}
	}
	return out, ps
}
