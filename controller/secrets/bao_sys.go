package secrets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// Health is the server's state as /sys/health reports it.
type Health struct {
	Initialized bool
	Sealed      bool
	Standby     bool
	Version     string
}

// Health asks /sys/health. It needs no token, so it is the first thing to
// check when something fails.
func (b *BaoClient) Health(ctx context.Context) (*Health, error) {
	h, err := b.c.Sys().HealthWithContext(ctx)
	if err != nil {
		return nil, b.classify(ctx, "check health", err)
	}
	return &Health{Initialized: h.Initialized, Sealed: h.Sealed, Standby: h.Standby, Version: h.Version}, nil
}

// SealStatus is the unseal progress: T of N key shares are needed and
// Progress have been given.
type SealStatus struct {
	Initialized bool
	Sealed      bool
	T, N        int
	Progress    int
	Version     string
}

// SealStatus asks /sys/seal-status (no token needed).
func (b *BaoClient) SealStatus(ctx context.Context) (*SealStatus, error) {
	s, err := b.c.Sys().SealStatusWithContext(ctx)
	if err != nil {
		return nil, b.classify(ctx, "read seal status", err)
	}
	return &SealStatus{Initialized: s.Initialized, Sealed: s.Sealed, T: s.T, N: s.N, Progress: s.Progress, Version: s.Version}, nil
}

// TokenInfo describes the client's token without its value, so the CLI can
// say who it logged in as.
type TokenInfo struct {
	DisplayName string
	Policies    []string
	TTL         time.Duration // zero: never expires
	Accessor    string
}

// LookupSelf validates the token and describes it. An invalid token is
// ErrTokenInvalid.
func (b *BaoClient) LookupSelf(ctx context.Context) (*TokenInfo, error) {
	const op = "look up token (auth/token/lookup-self)"
	if err := b.needToken(op); err != nil {
		return nil, err
	}
	info, err := b.lookupSelf(ctx)
	if err == nil {
		return info, nil
	}
	if re, ok := asResponse(err); ok && re.StatusCode == 403 {
		return nil, &BaoError{Kind: ErrTokenInvalid, Addr: b.addr, Op: op, Fix: fixTokenBad, Err: err}
	}
	return nil, b.classify(ctx, op, err)
}

func (b *BaoClient) lookupSelf(ctx context.Context) (*TokenInfo, error) {
	s, err := b.c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, err
	}
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("lookup-self at %s returned no data", b.addr)
	}
	info := &TokenInfo{}
	info.Policies, _ = s.TokenPolicies()
	info.TTL, _ = s.TokenTTL()
	info.Accessor, _ = s.TokenAccessor()
	if dn, ok := s.Data["display_name"].(string); ok {
		info.DisplayName = dn
	}
	return info, nil
}

func asResponse(err error) (*api.ResponseError, bool) {
	var re *api.ResponseError
	ok := errors.As(err, &re)
	return re, ok
}

// InitResult is what initialising OpenBAO yields once: the unseal key
// shares and the root token. Callers must never log it.
type InitResult struct {
	Keys      []string
	RootToken string
}

// Init initialises an uninitialised server with shares key shares of
// which threshold unseal it.
func (b *BaoClient) Init(ctx context.Context, shares, threshold int) (*InitResult, error) {
	r, err := b.c.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: shares, SecretThreshold: threshold})
	if err != nil {
		return nil, b.classify(ctx, "initialise", err)
	}
	keys := r.KeysB64
	if len(keys) == 0 {
		keys = r.Keys
	}
	return &InitResult{Keys: keys, RootToken: r.RootToken}, nil
}

// Unseal gives key shares until the server is unsealed or the keys run
// out; it returns the final seal status.
func (b *BaoClient) Unseal(ctx context.Context, keys []string) (*SealStatus, error) {
	var s *api.SealStatusResponse
	for _, k := range keys {
		var err error
		s, err = b.c.Sys().UnsealWithContext(ctx, k)
		if err != nil {
			return nil, b.classify(ctx, "unseal", err)
		}
		if !s.Sealed {
			break
		}
	}
	if s == nil {
		return nil, errors.New("no unseal keys were given")
	}
	return &SealStatus{Initialized: s.Initialized, Sealed: s.Sealed, T: s.T, N: s.N, Progress: s.Progress, Version: s.Version}, nil
}

// EnableKV mounts a KV version 2 engine at mount, which a freshly
// initialised OpenBAO lacks (only `bao server -dev` has secret/). It
// needs a token allowed to manage mounts, such as the root token.
func (b *BaoClient) EnableKV(ctx context.Context, mount string) error {
	if err := b.needToken("enable the KV engine"); err != nil {
		return err
	}
	err := b.c.Sys().MountWithContext(ctx, mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"},
		Description: "Foundry's secrets (KV v2), enabled by foundry component install"})
	if err != nil {
		return b.classify(ctx, "enable the KV v2 engine at "+mount+"/", err)
	}
	return nil
}
