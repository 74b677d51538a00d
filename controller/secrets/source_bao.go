package secrets

import (
	"context"
	"errors"
	"fmt"
)

// BaoSource answers from OpenBAO's KV v2 engine: the namespaced path is
// the secret's path under the mount and the key is a field of it. A nil
// Client means OpenBAO is not configured; the source then has nothing and
// says so in not-found errors.
type BaoSource struct {
	Client *BaoClient
}

// Name identifies the source in errors.
func (s BaoSource) Name() string {
	if s.Client == nil {
		return "OpenBAO (not configured)"
	}
	return "OpenBAO at " + s.Client.Address()
}

// Describe names the exact KV path, or how to configure OpenBAO.
func (s BaoSource) Describe(r Ref) string {
	if s.Client == nil {
		return "OpenBAO (not configured: set foundry.openbao.address or BAO_ADDR)"
	}
	return fmt.Sprintf("OpenBAO at %s (%s, key %s)", s.Client.Address(), s.Client.dataPath(r.Path), r.Key)
}

// Lookup reads the secret and picks the key.
func (s BaoSource) Lookup(ctx context.Context, r Ref) (string, bool, error) {
	if s.Client == nil {
		return "", false, nil
	}
	sec, err := s.Client.KVGet(ctx, r.Path)
	if errors.Is(err, ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	raw, ok := sec.Data[r.Key]
	if !ok || raw == nil {
		return "", false, nil
	}
	v, ok := stringValue(raw)
	if !ok {
		return "", false, fmt.Errorf("key %s of %s holds a structured value, not text; store it as a string", r.Key, r.Path)
	}
	return v, true, nil
}

// NewResolver builds the standard chain for one namespace: environment,
// then the vars file at varsPath (skipped when empty), then OpenBAO (nil
// when not configured).
func NewResolver(namespace, varsPath string, bao *BaoClient) *Resolver {
	srcs := []Source{EnvSource{}}
	if varsPath != "" {
		srcs = append(srcs, &VarsSource{Path: varsPath})
	}
	srcs = append(srcs, BaoSource{Client: bao})
	return &Resolver{Namespace: namespace, Sources: srcs}
}
