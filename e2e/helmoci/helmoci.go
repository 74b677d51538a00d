// Package helmoci is e2e test support (not production code): it builds a tiny
// Helm chart and pushes it to, and pulls it from, an OCI registry that Foundry
// installed, using the real Helm SDK so that the e2e tests exercise the same
// client code path `helm push`/`helm pull oci://...` would.
//
// Every call is hermetic:
//   - the Helm registry client's credentials file lives in a throw-away temp
//     dir, so ~/.config/helm of whoever runs the tests is never read or written;
//   - requests are anonymous (no credential store is consulted) and go over
//     plain HTTP, as the e2e registries have neither TLS nor auth;
//   - the HTTP client ignores HTTP(S)_PROXY and refuses any request whose host
//     is not the registry's host:port, so nothing leaves for another address,
//     even through a redirect.
package helmoci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Repository is the registry path under which charts are pushed:
// oci://<host:port>/charts/<name>:<version>.
const Repository = "charts"

const valuesYAML = `# Values for the Foundry e2e test chart.
greeting: hello from foundry e2e
`

const configMapYAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/version: {{ .Chart.Version | quote }}
data:
  greeting: {{ .Values.greeting | quote }}
`

// BuildChart writes a minimal valid chart (Chart.yaml apiVersion v2, a
// values.yaml and one ConfigMap template) packaged as dir/<name>-<version>.tgz
// with chartutil.Save, the same packager `helm package` uses, and returns the
// .tgz path. version must be SemVer 2.
func BuildChart(dir, name, version string) (string, error) {
	c := &chart.Chart{
		Metadata: &chart.Metadata{
			APIVersion:  chart.APIVersionV2,
			Name:        name,
			Version:     version,
			Description: "Foundry e2e test chart",
			Type:        "application",
			AppVersion:  version,
		},
		Raw:       []*chart.File{{Name: chartutil.ValuesfileName, Data: []byte(valuesYAML)}},
		Values:    map[string]interface{}{"greeting": "hello from foundry e2e"},
		Templates: []*chart.File{{Name: "templates/configmap.yaml", Data: []byte(configMapYAML)}},
	}
	path, err := chartutil.Save(c, dir)
	if err != nil {
		return "", fmt.Errorf("helmoci: package chart %s-%s: %w", name, version, err)
	}
	return path, nil
}

// Push uploads the packaged chart chartTgz to
// oci://<registryHostPort>/charts/<name>:<version>, name and version being
// read from the chart itself, over plain HTTP. It returns that ref and the
// digest of the pushed manifest. ctx bounds every request.
func Push(ctx context.Context, registryHostPort, chartTgz string) (ref, digest string, err error) {
	data, err := os.ReadFile(chartTgz)
	if err != nil {
		return "", "", fmt.Errorf("helmoci: %w", err)
	}
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return "", "", fmt.Errorf("helmoci: load %s: %w", chartTgz, err)
	}
	ref = fmt.Sprintf("%s://%s/%s/%s:%s", registry.OCIScheme, registryHostPort, Repository, c.Name(), c.Metadata.Version)
	err = withClient(ctx, registryHostPort, func(cl *registry.Client) error {
		res, err := cl.Push(data, ref)
		if err != nil {
			return err
		}
		digest = res.Manifest.Digest
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("helmoci: push %s: %w", ref, err)
	}
	return ref, digest, nil
}

// Pull downloads the chart at ref (oci://host:port/repo/name:version; the
// oci:// prefix is optional) over plain HTTP and returns the chart archive
// (.tgz bytes) and the digest of its manifest. ctx bounds every request.
func Pull(ctx context.Context, ref string) (chartBytes []byte, digest string, err error) {
	hostPort, _, ok := strings.Cut(strings.TrimPrefix(ref, registry.OCIScheme+"://"), "/")
	if !ok || hostPort == "" {
		return nil, "", fmt.Errorf("helmoci: ref %q: want oci://host:port/repository:tag", ref)
	}
	err = withClient(ctx, hostPort, func(cl *registry.Client) error {
		res, err := cl.Pull(ref)
		if err != nil {
			return err
		}
		chartBytes, digest = res.Chart.Data, res.Manifest.Digest
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("helmoci: pull %s: %w", ref, err)
	}
	return chartBytes, digest, nil
}

// withClient runs fn with a Helm registry client whose credentials file is in
// a temp dir removed afterwards, that authenticates as nobody, and whose HTTP
// requests may only go to hostPort and are cancelled with ctx. The Helm SDK's
// Push and Pull take no context, hence the transport does the binding.
func withClient(ctx context.Context, hostPort string, fn func(*registry.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "helmoci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	base := &http.Transport{
		Proxy:                 nil, // never via HTTP(S)_PROXY: only hostPort may be reached
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	defer base.CloseIdleConnections()
	httpClient := &http.Client{Transport: &scopedTransport{ctx: ctx, hostPort: hostPort, base: base}}
	// An authorizer without Credential is anonymous: neither the (temp) Helm
	// credentials file nor the user's Docker config is ever consulted.
	authorizer := auth.Client{Client: httpClient, Header: http.Header{"User-Agent": {"foundry-e2e-helmoci"}}}

	cl, err := registry.NewClient(
		registry.ClientOptCredentialsFile(tmp+"/registry/config.json"),
		registry.ClientOptHTTPClient(httpClient),
		registry.ClientOptAuthorizer(authorizer),
		registry.ClientOptPlainHTTP(),
		registry.ClientOptWriter(io.Discard),
	)
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

// scopedTransport refuses requests to any host but hostPort and cancels each
// request, including the reading of its body, when ctx is done.
type scopedTransport struct {
	ctx      context.Context
	hostPort string
	base     http.RoundTripper
}

func (t *scopedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Host, t.hostPort) {
		return nil, fmt.Errorf("helmoci: refusing request to %s: only %s may be reached", req.URL.Host, t.hostPort)
	}
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	done := func() { stop(); cancel() }
	resp, err := t.base.RoundTrip(req.WithContext(rctx))
	if err != nil {
		done()
		return nil, err
	}
	resp.Body = &doneBody{ReadCloser: resp.Body, done: done}
	return resp, nil
}

// doneBody releases the request's context when the body is closed.
type doneBody struct {
	io.ReadCloser
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}
