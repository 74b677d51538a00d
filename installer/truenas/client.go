// Package truenas is Foundry's client for the TrueNAS REST API v2.0: the
// few calls the storage commands need (system info, pools, datasets, NFS
// shares) and the step-by-step check behind `foundry storage test`.
// TrueNAS is not installed by Foundry; it is an appliance Foundry uses.
package truenas

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// ErrUnauthorized means TrueNAS refused the API key (HTTP 401).
var ErrUnauthorized = errors.New("TrueNAS refused the API key")

// ErrForbidden means the key is valid but its user may not do this
// (HTTP 403).
var ErrForbidden = errors.New("the API key is not allowed to do this")

// maxResponse bounds a response body; dataset lists of large systems are
// a few MiB.
const maxResponse = 64 << 20

// Options say where TrueNAS is and how to authenticate.
type Options struct {
	// URL is TrueNAS's address (https://truenas.example.com); the API
	// root /api/v2.0 is added.
	URL string
	// APIKey is the resolved key, never a reference.
	APIKey string
	// CAFile is a PEM bundle to verify TrueNAS's certificate with; empty
	// uses the system's roots. Verification is never turned off.
	CAFile string
	// Timeout bounds each request (default 15s).
	Timeout time.Duration
}

// Client talks to one TrueNAS.
type Client struct {
	base    *url.URL
	key     string
	tls     *tls.Config
	hc      *http.Client
	timeout time.Duration
}

// New checks the options and builds a client; it does not dial.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(o.URL))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("TrueNAS URL %q is not an http(s) URL; write it as https://truenas.example.com", o.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("TrueNAS URL must not carry a user or password; the API key authenticates")
	}
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.Path = strings.TrimSuffix(u.Path, "/api/v2.0")
	if o.APIKey == "" {
		return nil, errors.New("no TrueNAS API key; store it with `foundry secret set foundry/truenas --key api_key`")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read TrueNAS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TrueNAS CA file %s holds no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout}
	return &Client{base: u, key: o.APIKey, tls: tc, hc: &http.Client{Transport: tr, Timeout: timeout,
		// A redirect could carry the key elsewhere; TrueNAS's API does not redirect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		timeout: timeout}, nil
}

// URL is the TrueNAS address the client uses (without the API root).
func (c *Client) URL() string { return c.base.String() }

// APIError is a non-2xx answer, with TrueNAS's message when it gave one.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("TrueNAS %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, msg)
}

// Unwrap lets callers test errors.Is(err, ErrUnauthorized/ErrForbidden).
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	}
	return nil
}

// do sends one request under /api/v2.0 and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	// Built as text so an escaped dataset id (tank%2Fx) stays escaped on
	// the wire.
	target := strings.TrimSuffix(c.base.String(), "/") + "/api/v2.0/" + path
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("TrueNAS %s %s: %w", method, "/api/v2.0/"+path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("TrueNAS %s %s: read answer: %w", method, "/api/v2.0/"+path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: method, Path: "/api/v2.0/" + path, Status: resp.StatusCode, Message: errorMessage(raw)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("TrueNAS %s %s: the answer is not the expected JSON (is this a TrueNAS API?): %w", method, "/api/v2.0/"+path, err)
	}
	return nil
}

// errorMessage reads the middleware's error bodies: {"message": ...} for
// a call error, {"<method>.<field>": [{"message": ...}]} for validation
// errors, or plain text ("401: Unauthorized").
func errorMessage(raw []byte) string {
	var call struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &call) == nil && call.Message != "" {
		return oneLine(call.Message)
	}
	var fields map[string][]struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &fields) == nil && len(fields) > 0 {
		var msgs []string
		for f, es := range fields {
			for _, e := range es {
				msgs = append(msgs, f+": "+e.Message)
			}
		}
		return oneLine(strings.Join(msgs, "; "))
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 200 || strings.HasPrefix(s, "<") {
		return ""
	}
	return oneLine(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
