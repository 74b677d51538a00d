// Package client is how the CLI talks to a running controller: one NATS
// connection authenticated with an operator NKey, requests to the API
// subjects, and read access to the events stream.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/messages"
)

// Options say how to reach and authenticate to the controller.
type Options struct {
	URL       string // one or more URLs, comma separated
	CredsFile string // operator NKey seed
	CAFile    string // controller CA; empty for plaintext controllers
	Name      string // connection name shown in server monitoring
	Timeout   time.Duration
}

// Client is a connected operator.
type Client struct {
	nc *nats.Conn
}

// Sentinel errors so callers can give the right advice.
var (
	ErrUnreachable = errors.New("controller unreachable")
	ErrAuth        = errors.New("controller refused the credentials")
)

// Connect dials the controller and fails fast with advice when it is down,
// the URL is wrong or the credentials are refused.
func Connect(ctx context.Context, o Options) (*Client, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	seed, err := os.ReadFile(o.CredsFile)
	if err != nil {
		return nil, fmt.Errorf("read operator credentials %s: %w; pass --creds or run foundry controller run first", o.CredsFile, err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		return nil, fmt.Errorf("%s is not an NKey seed; pass the operator credentials file with --creds", o.CredsFile)
	}
	pub, _ := kp.PublicKey()
	opts := []nats.Option{
		nats.Name(orDefault(o.Name, "foundry-cli")),
		nats.Nkey(pub, kp.Sign),
		nats.CustomInboxPrefix(OperatorInbox(pub)),
		nats.Timeout(o.Timeout),
		nats.NoReconnect(),
	}
	if strings.HasPrefix(o.URL, "tls://") || o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read controller CA %s: %w; pass --ca with the controller's ca.pem", o.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate; pass the controller's ca.pem with --ca", o.CAFile)
		}
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization") {
			return nil, fmt.Errorf("%w: %s was not accepted by %s; check --creds", ErrAuth, o.CredsFile, o.URL)
		}
		return nil, fmt.Errorf("%w at %s (%v); start it with `foundry controller run` or pass --controller", ErrUnreachable, o.URL, err)
	}
	return &Client{nc: nc}, nil
}

// OperatorInbox must match the controller's permission for operators.
func OperatorInbox(pub string) string { return "_INBOX_" + pub }

// Close ends the connection.
func (c *Client) Close() { c.nc.Close() }

// Conn exposes the NATS connection for streaming reads (events).
func (c *Client) Conn() *nats.Conn { return c.nc }

// call sends a request to an API subject and decodes the typed answer.
func call[Req, Res any](ctx context.Context, c *Client, subject string, req Req) (Res, error) {
	var zero Res
	b, err := json.Marshal(req)
	if err != nil {
		return zero, err
	}
	msg, err := c.nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return zero, fmt.Errorf("%w: no controller serves %s; is `foundry controller run` running?", ErrUnreachable, subject)
		}
		if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(err.Error(), "Permissions Violation") {
			return zero, fmt.Errorf("your operator role may not call %s; ask an admin", subject)
		}
		return zero, fmt.Errorf("request %s: %w", subject, err)
	}
	resp, err := messages.DecodeAPI[messages.APIResponse[Res]](msg.Data)
	if err != nil {
		return zero, err
	}
	if resp.Error != nil {
		return zero, resp.Error
	}
	return resp.Result, nil
}

// HostList returns the registry.
func (c *Client) HostList(ctx context.Context) (messages.HostListResult, error) {
	return call[messages.HostListRequest, messages.HostListResult](ctx, c, messages.APIHostList, messages.HostListRequest{})
}

// FleetStatus fans a status command out through the controller. The
// request waits a little longer than the fan-out timeout so the controller
// can always report missing hosts itself.
func (c *Client) FleetStatus(ctx context.Context, req messages.FleetStatusRequest) (messages.FleetStatusResult, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond+5*time.Second)
	defer cancel()
	return call[messages.FleetStatusRequest, messages.FleetStatusResult](ctx, c, messages.APIFleetStatus, req)
}

// Enroll registers a host's agent key.
func (c *Client) Enroll(ctx context.Context, req messages.EnrollRequest) (messages.EnrollResult, error) {
	return call[messages.EnrollRequest, messages.EnrollResult](ctx, c, messages.APIHostEnroll, req)
}

// RemoveHost removes a host: agent uninstall over NATS, then revocation.
func (c *Client) RemoveHost(ctx context.Context, req messages.HostRemoveRequest) (messages.HostRemoveResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return call[messages.HostRemoveRequest, messages.HostRemoveResult](ctx, c, messages.APIHostRemove, req)
}

// Info describes the controller.
func (c *Client) Info(ctx context.Context) (messages.ControllerInfo, error) {
	return call[struct{}, messages.ControllerInfo](ctx, c, messages.APIInfo, struct{}{})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
