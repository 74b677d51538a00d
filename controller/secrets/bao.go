package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// DefaultMount is the KV v2 mount Foundry uses unless the config names
// another.
const DefaultMount = "secret"

// defaultBaoTimeout bounds one OpenBAO request; a CLI user should get an
// answer, not a hang.
const defaultBaoTimeout = 10 * time.Second

// BaoOptions configures a BaoClient. Only Address is required.
type BaoOptions struct {
	Address string
	Token   string
	// Mount is the KV v2 mount; DefaultMount when empty.
	Mount string
	// Timeout per request; 10s when zero.
	Timeout time.Duration
	// MaxRetries on 5xx and connection errors. Zero (the default) means
	// one attempt: a sealed server will not unseal itself in a second, and
	// the user should hear about it at once.
	MaxRetries int
	// CACert is a PEM file to trust for https addresses.
	CACert string
	// HTTPClient replaces the client's transport (tests, proxies).
	HTTPClient *http.Client
}

// BaoClient wraps the official OpenBAO client with the few operations
// Foundry needs, and turns failures into BaoErrors that say what to do.
// The code path is the same whatever server it talks to.
type BaoClient struct {
	c     *api.Client
	addr  string
	mount string
}

// NewBaoClient builds a client. It does not contact the server.
func NewBaoClient(o BaoOptions) (*BaoClient, error) {
	u, err := url.Parse(o.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OpenBAO address %q is not a URL like https://openbao.example.com:8200; fix foundry.openbao.address or BAO_ADDR", o.Address)
	}
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("configure OpenBAO client: %w", cfg.Error)
	}
	cfg.Address = strings.TrimRight(o.Address, "/")
	cfg.Timeout = o.Timeout
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultBaoTimeout
	}
	cfg.MaxRetries = o.MaxRetries
	if o.HTTPClient != nil {
		cfg.HttpClient = o.HTTPClient
	}
	if o.CACert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: o.CACert}); err != nil {
			return nil, fmt.Errorf("load OpenBAO CA certificate %s: %w", o.CACert, err)
		}
	}
	// DefaultConfig read BAO_* variables for TLS and the like; the address
	// and token come only from the options so there is one source of truth.
	cfg.DisableEnvironment = true
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("create OpenBAO client for %s: %w", o.Address, err)
	}
	c.SetToken(o.Token)
	mount := strings.Trim(o.Mount, "/")
	if mount == "" {
		mount = DefaultMount
	}
	return &BaoClient{c: c, addr: cfg.Address, mount: mount}, nil
}

// Address is the server this client talks to, for messages.
func (b *BaoClient) Address() string { return b.addr }

// Mount is the KV v2 mount this client reads and writes.
func (b *BaoClient) Mount() string { return b.mount }

// HasToken reports whether a token is set, so callers can say "log in"
// before the first request instead of after a 403.
func (b *BaoClient) HasToken() bool { return b.c.Token() != "" }

// WithToken returns a client for the same server using another token, for
// checking a token before storing it.
func (b *BaoClient) WithToken(token string) (*BaoClient, error) {
	c, err := b.c.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone OpenBAO client: %w", err)
	}
	c.SetToken(token)
	return &BaoClient{c: c, addr: b.addr, mount: b.mount}, nil
}

// dataPath and metaPath are the API paths (without /v1/) of a secret, for
// messages and policies.
func (b *BaoClient) dataPath(p string) string { return b.mount + "/data/" + p }
func (b *BaoClient) metaPath(p string) string {
	if p == "" {
		return b.mount + "/metadata"
	}
	return b.mount + "/metadata/" + p
}

func (b *BaoClient) needToken(op string) error {
	if b.HasToken() {
		return nil
	}
	return &BaoError{Kind: ErrNoToken, Addr: b.addr, Op: op, Fix: fixNoToken}
}

// classify turns a client error into a BaoError. On 403 it asks the server
// whether the token itself is valid, so "bad token" and "token lacks the
// policy" get different advice; on 5xx it reads the seal status, so
// "sealed" and "not initialised" do too.
func (b *BaoClient) classify(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s at %s: %w", op, b.addr, ctx.Err())
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return &BaoError{Kind: ErrUnreachable, Addr: b.addr, Op: op, Detail: rootCause(err), Fix: fixUnreachable, Err: err}
	}
	switch {
	case re.StatusCode == http.StatusForbidden:
		return b.classifyForbidden(ctx, op, err)
	case re.StatusCode >= 500:
		st, serr := b.c.Sys().SealStatusWithContext(ctx)
		switch {
		case serr == nil && !st.Initialized:
			return &BaoError{Kind: ErrNotInitialized, Addr: b.addr, Op: op, Fix: fixNotInit, Err: err}
		case serr == nil && st.Sealed:
			return &BaoError{Kind: ErrSealed, Addr: b.addr, Op: op, Err: err, Fix: fixSealed,
				Detail: fmt.Sprintf("%d of %d unseal keys given", st.Progress, st.T)}
		}
	}
	return fmt.Errorf("%s at %s: %w", op, b.addr, err)
}

func (b *BaoClient) classifyForbidden(ctx context.Context, op string, err error) error {
	info, lerr := b.lookupSelf(ctx)
	if lerr != nil {
		var re *api.ResponseError
		if errors.As(lerr, &re) && re.StatusCode == http.StatusForbidden {
			return &BaoError{Kind: ErrTokenInvalid, Addr: b.addr, Op: op, Fix: fixTokenBad, Err: err}
		}
		// Could not tell; say what we know.
		return &BaoError{Kind: ErrPermissionDenied, Addr: b.addr, Op: op, Fix: fixDenied, Err: err}
	}
	return &BaoError{Kind: ErrPermissionDenied, Addr: b.addr, Op: op, Fix: fixDenied, Err: err,
		Detail: "token policies: " + strings.Join(info.Policies, ", ")}
}

// rootCause keeps the innermost message ("connection refused") so the
// user sees the real reason without the client's retry wrapping.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
