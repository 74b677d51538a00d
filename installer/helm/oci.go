package helm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// ChartRepository is the path under the stack's registry that holds
// charts: oci://<registry>/charts/<name>:<version>.
const ChartRepository = "charts"

// Registry is the stack's OCI registry as Foundry reaches it.
type Registry struct {
	Host      string // host:port
	PlainHTTP bool   // the registry serves HTTP, not HTTPS
	// Username and Password are basic-auth credentials (htpasswd); empty
	// means anonymous. They are used for this client only, never stored.
	Username, Password string
}

// ChartRef is where a chart lives in the registry.
func (r Registry) ChartRef(name, version string) string {
	return fmt.Sprintf("%s://%s/%s/%s:%s", registry.OCIScheme, r.Host, ChartRepository, name, version)
}

// PushChart checks that archive is chart name at version and pushes it,
// returning the reference and the manifest digest.
func PushChart(ctx context.Context, r Registry, archive []byte, name, version string) (ref, digest string, err error) {
	ch, err := LoadChart(archive, name, version)
	if err != nil {
		return "", "", err
	}
	ref = r.ChartRef(ch.Name(), ch.Metadata.Version)
	err = r.with(ctx, func(cl *registry.Client) error {
		res, err := cl.Push(archive, ref)
		if err != nil {
			return err
		}
		digest = res.Manifest.Digest
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("push %s: %w", ref, err)
	}
	return ref, digest, nil
}

// PullChart fetches chart name:version from the registry and checks it.
func PullChart(ctx context.Context, r Registry, name, version string) ([]byte, string, error) {
	ref := r.ChartRef(name, version)
	var data []byte
	var digest string
	err := r.with(ctx, func(cl *registry.Client) error {
		res, err := cl.Pull(ref)
		if err != nil {
			return err
		}
		data, digest = res.Chart.Data, res.Manifest.Digest
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("pull %s: %w; import the chart with `foundry artifact import %s %s <chart.tgz>`", ref, err, name, version)
	}
	if _, err := LoadChart(data, name, version); err != nil {
		return nil, "", fmt.Errorf("pull %s: %w", ref, err)
	}
	return data, digest, nil
}

// with runs fn with a Helm registry client that reads no credential
// store: Helm's NewClient always opens one, so it gets a path in an
// empty temp dir (never created), and the authorizer, which is what
// answers challenges, has only the given basic-auth credentials.
// Requests may reach only the registry's host and end with ctx; Helm's
// Push and Pull take no context, so the transport binds it.
func (r Registry) with(ctx context.Context, fn func(*registry.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "foundry-helm-registry-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rt, done := r.Transport(ctx)
	defer done()
	hc := &http.Client{Transport: rt}
	authorizer := auth.Client{Client: hc, Header: http.Header{"User-Agent": {"foundry"}}}
	if r.Username != "" {
		cred := auth.Credential{Username: r.Username, Password: r.Password}
		authorizer.Credential = func(context.Context, string) (auth.Credential, error) { return cred, nil }
	}
	opts := []registry.ClientOption{
		registry.ClientOptCredentialsFile(filepath.Join(tmp, "none", "config.json")),
		registry.ClientOptHTTPClient(hc),
		registry.ClientOptAuthorizer(authorizer),
		registry.ClientOptWriter(io.Discard),
	}
	if r.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	cl, err := registry.NewClient(opts...)
	if err != nil {
		return err
	}
	if err := fn(cl); err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("%w (%w)", err, cerr)
		}
		return err
	}
	return nil
}

// Transport is how every client of the registry (Helm's for charts,
// go-containerregistry's for images) reaches it: no proxy from the
// environment, only the registry's host, requests cancelled with ctx.
// done releases idle connections.
func (r Registry) Transport(ctx context.Context) (rt http.RoundTripper, done func()) {
	base := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	return &scoped{ctx: ctx, host: r.Host, base: base}, base.CloseIdleConnections
}

// scoped refuses any host but the registry's (a redirect to elsewhere
// included) and cancels requests when ctx ends.
type scoped struct {
	ctx  context.Context
	host string
	base http.RoundTripper
}

func (t *scoped) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Host, t.host) {
		return nil, fmt.Errorf("refusing a request to %s: only the registry %s may be reached", req.URL.Host, t.host)
	}
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	resp, err := t.base.RoundTrip(req.WithContext(rctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	resp.Body = &closer{ReadCloser: resp.Body, done: func() { stop(); cancel() }}
	return resp, nil
}

type closer struct {
	io.ReadCloser
	done func()
}

func (c *closer) Close() error {
	err := c.ReadCloser.Close()
	c.done()
	return err
}
