package truenas

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Check step names, in the order they run.
const (
	StepReachability   = "reachability"
	StepTLS            = "tls"
	StepAuthentication = "authentication"
	StepPermissions    = "permissions"
)

// Step results.
const (
	StatusOK      = "ok"
	StatusFail    = "fail"
	StatusSkipped = "skipped" // not applicable (TLS over http) or not asked for
	StatusNotRun  = "not run" // an earlier step failed
)

// Step is one line of a check: what was checked, how it went, and a
// one-line reason.
type Step struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// CheckOptions choose how far Check goes.
type CheckOptions struct {
	// Permissions creates and deletes a throw-away dataset under Parent
	// (default: the first pool) to prove the key may write.
	Permissions bool
	Parent      string
}

// Failed reports whether any step failed.
func Failed(steps []Step) bool {
	for _, s := range steps {
		if s.Status == StatusFail {
			return true
		}
	}
	return false
}

// Check runs the steps in order: the TCP port answers, the TLS
// certificate verifies, the API key is accepted, and (with Permissions)
// a dataset can be created and deleted. It stops at the first failure
// and reports the rest as not run, so the first "fail" is the thing to
// fix.
func (c *Client) Check(ctx context.Context, o CheckOptions) []Step {
	steps := []func(context.Context) Step{c.reachability, c.tlsStep, c.authentication}
	if o.Permissions {
		steps = append(steps, func(ctx context.Context) Step { return c.permissions(ctx, o.Parent) })
	}
	var out []Step
	failed := false
	names := []string{StepReachability, StepTLS, StepAuthentication, StepPermissions}
	for i, run := range steps {
		if failed {
			out = append(out, Step{Name: names[i], Status: StatusNotRun, Reason: "an earlier step failed"})
			continue
		}
		s := run(ctx)
		failed = s.Status == StatusFail
		out = append(out, s)
	}
	if !o.Permissions {
		out = append(out, Step{Name: StepPermissions, Status: StatusSkipped, Reason: "not checked here; run foundry storage test"})
	}
	return out
}

// hostPort is the API's host:port, with the scheme's default port.
func (c *Client) hostPort() string {
	if c.base.Port() != "" {
		return c.base.Host
	}
	port := "443"
	if c.base.Scheme == "http" {
		port = "80"
	}
	return net.JoinHostPort(c.base.Hostname(), port)
}

func (c *Client) reachability(ctx context.Context) Step {
	s := Step{Name: StepReachability}
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "tcp", c.hostPort())
	if err != nil {
		s.Status, s.Reason = StatusFail, fmt.Sprintf("cannot connect to %s: %s; check the address and that TrueNAS's web service is up", c.hostPort(), rootCause(err))
		return s
	}
	conn.Close()
	s.Status, s.Reason = StatusOK, c.hostPort()+" accepts connections"
	return s
}

func (c *Client) tlsStep(ctx context.Context) Step {
	s := Step{Name: StepTLS}
	if c.base.Scheme != "https" {
		s.Status, s.Reason = StatusSkipped, "the URL is http: no TLS, so the API key crosses the network in clear; use https"
		return s
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: c.timeout}, Config: c.tls}
	conn, err := d.DialContext(ctx, "tcp", c.hostPort())
	if err != nil {
		s.Status, s.Reason = StatusFail, tlsReason(err, c.base.Hostname())
		return s
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	issuer := ""
	if len(st.PeerCertificates) > 0 {
		issuer = st.PeerCertificates[0].Issuer.CommonName
	}
	s.Status, s.Reason = StatusOK, fmt.Sprintf("certificate for %s verified (issuer %q)", c.base.Hostname(), issuer)
	return s
}

// tlsReason explains a failed handshake in terms of what to do.
func tlsReason(err error, host string) string {
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		err = verify.Err
	}
	switch {
	case errors.As(err, &unknown):
		return "the certificate is not trusted (signed by an unknown authority, e.g. TrueNAS's self-signed one); give its CA with --ca-file (storage.truenas.ca_file)"
	case errors.As(err, &hostErr):
		return fmt.Sprintf("the certificate does not cover %s (%s); use a name it covers or re-issue it", host, rootCause(err))
	case errors.As(err, &invalid):
		return "the certificate is not valid (" + rootCause(err) + "); renew it on TrueNAS"
	}
	return "TLS handshake failed: " + rootCause(err) + "; check that the port serves HTTPS"
}

func (c *Client) authentication(ctx context.Context) Step {
	s := Step{Name: StepAuthentication}
	info, err := c.SystemInfo(ctx)
	switch {
	case errors.Is(err, ErrUnauthorized):
		s.Status, s.Reason = StatusFail, "TrueNAS refused the API key (HTTP 401); store a valid key (System > API Keys on TrueNAS)"
	case errors.Is(err, ErrForbidden):
		s.Status, s.Reason = StatusFail, "the API key may not read system information (HTTP 403); give its user at least read-only access"
	case err != nil:
		s.Status, s.Reason = StatusFail, rootCause(err)
	default:
		s.Status, s.Reason = StatusOK, fmt.Sprintf("API key accepted by %s (%s)", info.Hostname, info.Version)
	}
	return s
}

func (c *Client) permissions(ctx context.Context, parent string) Step {
	s := Step{Name: StepPermissions, Status: StatusFail}
	if parent == "" {
		pools, err := c.Pools(ctx)
		if err != nil {
			s.Reason = "cannot list pools: " + rootCause(err)
			return s
		}
		if len(pools) == 0 {
			s.Reason = "TrueNAS has no pool to create a dataset in; create one, or set storage.truenas.dataset"
			return s
		}
		parent = pools[0].Name
	}
	name := parent + "/" + ThrowawayName()
	if _, err := c.CreateDataset(ctx, name); err != nil {
		if errors.Is(err, ErrForbidden) {
			s.Reason = fmt.Sprintf("the API key cannot create datasets under %s (HTTP 403); use a key whose user may manage datasets", parent)
		} else {
			s.Reason = fmt.Sprintf("cannot create dataset %s: %s", name, rootCause(err))
		}
		return s
	}
	if err := c.DeleteDataset(ctx, name); err != nil {
		s.Reason = fmt.Sprintf("created dataset %s but cannot delete it (%s); delete it on TrueNAS", name, rootCause(err))
		return s
	}
	s.Status, s.Reason = StatusOK, fmt.Sprintf("created and deleted dataset %s", name)
	return s
}

// ThrowawayPrefix starts the name of every dataset Check creates, so one
// left behind is recognisable.
const ThrowawayPrefix = "foundry-check-"

// ThrowawayName is a fresh name for the permission check's dataset.
func ThrowawayName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return ThrowawayPrefix + hex.EncodeToString(b)
}

// rootCause is the innermost message, without Go's wrapping chain, so a
// step's reason stays one short line.
func rootCause(err error) string {
	var api *APIError
	if errors.As(err, &api) {
		if api.Message != "" {
			return fmt.Sprintf("HTTP %d: %s", api.Status, api.Message)
		}
		return fmt.Sprintf("HTTP %d", api.Status)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i > 10 {
		return msg[i+2:]
	}
	return msg
}
