package secrets

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/openbao/openbao/api/v2"
)

// KVSecret is the latest version of one KV v2 secret.
type KVSecret struct {
	Data    map[string]any
	Version int
}

// KVGet reads the latest version of path. A missing (or deleted) secret is
// ErrNotFound, so callers can fall back or tell the user to set it.
func (b *BaoClient) KVGet(ctx context.Context, path string) (*KVSecret, error) {
	op := "read " + b.dataPath(path)
	if err := b.check(op, path); err != nil {
		return nil, err
	}
	s, err := b.c.KVv2(b.mount).Get(ctx, path)
	if errors.Is(err, api.ErrSecretNotFound) {
		return nil, fmt.Errorf("%w: %s at %s", ErrNotFound, b.dataPath(path), b.addr)
	}
	if err != nil {
		return nil, b.classify(ctx, op, err)
	}
	if s.Data == nil {
		return nil, fmt.Errorf("%w: %s at %s (latest version deleted)", ErrNotFound, b.dataPath(path), b.addr)
	}
	out := &KVSecret{Data: s.Data}
	if s.VersionMetadata != nil {
		out.Version = s.VersionMetadata.Version
	}
	return out, nil
}

// KVPut writes data as a new version of path. With cas >= 0 the write
// succeeds only if the current version is cas (0: the secret must not
// exist yet), so two writers cannot silently overwrite each other.
func (b *BaoClient) KVPut(ctx context.Context, path string, data map[string]any, cas int) (int, error) {
	op := "write " + b.dataPath(path)
	if err := b.check(op, path); err != nil {
		return 0, err
	}
	var opts []api.KVOption
	if cas >= 0 {
		opts = append(opts, api.WithCheckAndSet(cas))
	}
	s, err := b.c.KVv2(b.mount).Put(ctx, path, data, opts...)
	if err != nil {
		return 0, b.classify(ctx, op, err)
	}
	if s == nil || s.VersionMetadata == nil {
		return 0, nil
	}
	return s.VersionMetadata.Version, nil
}

// SetKey sets one key of path and keeps its other keys, using
// check-and-set so a concurrent writer is detected rather than clobbered.
func (b *BaoClient) SetKey(ctx context.Context, path, key, value string) (int, error) {
	data := map[string]any{}
	cas := 0
	cur, err := b.KVGet(ctx, path)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return 0, err
	default:
		for k, v := range cur.Data {
			data[k] = v
		}
		cas = cur.Version
	}
	data[key] = value
	return b.KVPut(ctx, path, data, cas)
}

// KVList lists the entries directly under path ("" for the mount's root);
// sub-folders end in "/". Nothing there is an empty list, not an error.
func (b *BaoClient) KVList(ctx context.Context, path string) ([]string, error) {
	op := "list " + b.metaPath(path)
	if path != "" {
		if err := b.check(op, path); err != nil {
			return nil, err
		}
	} else if err := b.needToken(op); err != nil {
		return nil, err
	}
	l, err := b.c.KVv2(b.mount).List(ctx, path)
	if err != nil {
		return nil, b.classify(ctx, op, err)
	}
	if l == nil {
		return nil, nil
	}
	keys := append([]string(nil), l.Keys...)
	sort.Strings(keys)
	return keys, nil
}

// KVMetadata returns path's metadata (versions, times) without its data,
// for listings that must not fetch values.
func (b *BaoClient) KVMetadata(ctx context.Context, path string) (*api.KVMetadata, error) {
	op := "read " + b.metaPath(path)
	if err := b.check(op, path); err != nil {
		return nil, err
	}
	m, err := b.c.KVv2(b.mount).GetMetadata(ctx, path)
	if errors.Is(err, api.ErrSecretNotFound) {
		return nil, fmt.Errorf("%w: %s at %s", ErrNotFound, b.metaPath(path), b.addr)
	}
	if err != nil {
		return nil, b.classify(ctx, op, err)
	}
	return m, nil
}

// KVDestroy deletes every version and the metadata of path, for replacing
// a host's key pair outright.
func (b *BaoClient) KVDestroy(ctx context.Context, path string) error {
	op := "delete " + b.metaPath(path)
	if err := b.check(op, path); err != nil {
		return err
	}
	return b.classify(ctx, op, b.c.KVv2(b.mount).DeleteMetadata(ctx, path))
}

func (b *BaoClient) check(op, path string) error {
	if reason := checkPath(path); reason != "" {
		return fmt.Errorf("%s: secret path %q: %s", op, path, reason)
	}
	return b.needToken(op)
}

// stringValue turns one KV field into text. KV v2 stores JSON, so numbers
// and booleans are formatted; nested objects cannot be a single secret.
func stringValue(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case interface{ String() string }: // json.Number
		return t.String(), true
	}
	return "", false
}
