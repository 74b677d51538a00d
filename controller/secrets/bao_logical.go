package secrets

import (
	"context"
	"errors"
	"net/http"

	"github.com/openbao/openbao/api/v2"
)

// Logical read, write, delete and list on any API path, for callers that
// manage more of OpenBAO than its KV engine (installer/access: auth
// methods, entities, policies). Failures are classified like the KV
// calls'. op names the action for the error ("create entity alice").

// Read returns the data of path, or ErrNotFound.
func (b *BaoClient) Read(ctx context.Context, op, path string) (map[string]any, error) {
	if err := b.needToken(op); err != nil {
		return nil, err
	}
	s, err := b.c.Logical().ReadWithContext(ctx, path)
	if err != nil {
		if isNotFound(err) {
			return nil, ErrNotFound
		}
		return nil, b.classify(ctx, op, err)
	}
	if s == nil {
		return nil, ErrNotFound
	}
	if s.Data == nil {
		return map[string]any{}, nil
	}
	return s.Data, nil
}

// Write writes data to path and returns the answer's data (nil for 204).
func (b *BaoClient) Write(ctx context.Context, op, path string, data map[string]any) (map[string]any, error) {
	if err := b.needToken(op); err != nil {
		return nil, err
	}
	s, err := b.c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, b.classify(ctx, op, err)
	}
	if s == nil {
		return nil, nil
	}
	return s.Data, nil
}

// Delete deletes path; deleting what is not there is not an error.
func (b *BaoClient) Delete(ctx context.Context, op, path string) error {
	if err := b.needToken(op); err != nil {
		return err
	}
	if _, err := b.c.Logical().DeleteWithContext(ctx, path); err != nil && !isNotFound(err) {
		return b.classify(ctx, op, err)
	}
	return nil
}

// List returns the keys under path; none is an empty list, not an error.
func (b *BaoClient) List(ctx context.Context, op, path string) ([]string, error) {
	if err := b.needToken(op); err != nil {
		return nil, err
	}
	s, err := b.c.Logical().ListWithContext(ctx, path)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, b.classify(ctx, op, err)
	}
	if s == nil || s.Data == nil {
		return nil, nil
	}
	raw, _ := s.Data["keys"].([]any)
	out := make([]string, 0, len(raw))
	for _, k := range raw {
		if v, ok := k.(string); ok {
			out = append(out, v)
		}
	}
	return out, nil
}

func isNotFound(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}
