// Package client is how the CLI talks to a running controller: one NATS
// connection authenticated with an operator NKey and requests to the API
// subjects. Operators have no JetStream access: events, audit records and
// artifact bytes go through the controller's API too.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
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

// Client is a connected operator. It keeps the operator's key pair to sign
// every API request, which is how the controller knows who is asking.
type Client struct {
	nc  *nats.Conn
	kp  nkeys.KeyPair
	pub string
	// read replaces the stream-read API call (StreamReader).
	read StreamReadFunc

	// denied wakes requests whose publish the server refused: NATS
	// reports a permission violation asynchronously, so without this a
	// read-only operator calling a write endpoint would wait for the
	// timeout instead of being told at once.
	mu     sync.Mutex
	denied map[string]map[chan struct{}]struct{}
}

// Sentinel errors so callers can give the right advice.
var (
	ErrUnreachable = errors.New("controller unreachable")
	ErrAuth        = errors.New("controller refused the credentials")
	// ErrForbidden is a call the operator's role may not make, refused by
	// the server's permissions before the controller saw it.
	ErrForbidden = errors.New("operator role may not call this")
)

// forbiddenError is the server's refusal of a publish: it reads as
// advice and is ErrForbidden.
type forbiddenError struct{ subject string }

func (e *forbiddenError) Error() string {
	return fmt.Sprintf("your operator role may not call %s; ask an admin", e.subject)
}

func (e *forbiddenError) Is(target error) bool { return target == ErrForbidden }

// IsForbidden reports whether err is a refusal of the operator's role,
// by the server (ErrForbidden) or by the controller (CodeForbidden).
func IsForbidden(err error) bool {
	return errors.Is(err, ErrForbidden) || messages.CodeOf(err) == messages.CodeForbidden
}

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
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, fmt.Errorf("%s is not an operator (user) NKey seed; pass the operator credentials file with --creds", o.CredsFile)
	}
	cl := &Client{kp: kp, pub: pub, denied: map[string]map[chan struct{}]struct{}{}}
	opts := []nats.Option{
		nats.ErrorHandler(cl.asyncError),
		nats.Name(orDefault(o.Name, "foundry-cli")),
		nats.Nkey(pub, kp.Sign),
		nats.CustomInboxPrefix(OperatorInbox(pub)),
		nats.Timeout(o.Timeout),
		nats.NoReconnect(),
		// In the order given: the controller's local URLs list loopback
		// first.
		nats.DontRandomize(),
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
			return nil, fmt.Errorf("%w: %s was not accepted by %s; check --creds (revoked operators are refused, and so is a connection beyond the per-operator limit, so close other sessions with the same credentials)", ErrAuth, o.CredsFile, o.URL)
		}
		if tlsErr := explainTLS(err, o); tlsErr != nil {
			return nil, tlsErr
		}
		return nil, fmt.Errorf("%w at %s (%v); start it with `foundry controller run` or pass --controller", ErrUnreachable, o.URL, err)
	}
	cl.nc = nc
	return cl, nil
}

var publishViolationRe = regexp.MustCompile(`Permissions Violation for Publish to "([^"]+)"`)

func (c *Client) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	m := publishViolationRe.FindStringSubmatch(err.Error())
	if m == nil {
		return
	}
	c.mu.Lock()
	for ch := range c.denied[m[1]] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
}

// watchDenied returns a channel that receives when the server refuses a
// publish to subject, and a func to stop watching.
func (c *Client) watchDenied(subject string) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	if c.denied[subject] == nil {
		c.denied[subject] = map[chan struct{}]struct{}{}
	}
	c.denied[subject][ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.denied[subject], ch)
		if len(c.denied[subject]) == 0 {
			delete(c.denied, subject)
		}
		c.mu.Unlock()
	}
}

// PublicKey is the operator's public key this client signs with.
func (c *Client) PublicKey() string { return c.pub }

// OperatorInbox must match the controller's permission for operators.
func OperatorInbox(pub string) string { return "_INBOX_" + pub }

// Close ends the connection.
func (c *Client) Close() { c.nc.Close() }

// Conn exposes the NATS connection, for tests that send raw requests
// with the operator's permissions.
func (c *Client) Conn() *nats.Conn { return c.nc }

// defaultCallTimeout bounds a request whose context has no deadline.
const defaultCallTimeout = 30 * time.Second

// call sends a request to an API subject and decodes the typed answer.
func call[Req, Res any](ctx context.Context, c *Client, subject string, req Req) (Res, error) {
	var zero Res
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCallTimeout)
		defer cancel()
	}
	m, err := c.signedRequest(subject, req)
	if err != nil {
		return zero, err
	}
	denied, stop := c.watchDenied(subject)
	defer stop()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-denied:
			cancel()
		case <-rctx.Done():
		}
	}()
	msg, err := c.nc.RequestMsgWithContext(rctx, m)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		err = nats.ErrPermissionViolation // cancelled by the server's refusal
	}
	if err != nil {
		return zero, callErr(subject, err)
	}
	return decodeAnswer[Res](msg.Data)
}

// signedRequest builds an API request signed with the operator's key:
// req's JSON, or req itself when it is a body already encoded.
func (c *Client) signedRequest(subject string, req any) (*nats.Msg, error) {
	b, ok := req.(rawBody)
	if !ok {
		var err error
		if b, err = json.Marshal(req); err != nil {
			return nil, err
		}
	}
	auth, err := messages.SignAPI(subject, b, c.pub, time.Now(), c.kp.Sign)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subject)
	m.Data = b
	for k, v := range auth.Headers() {
		m.Header.Set(k, v)
	}
	return m, nil
}

// rawBody is a request body sent as it is, not as JSON.
type rawBody []byte

// callErr turns a failed request into advice.
func callErr(subject string, err error) error {
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%w: no controller serves %s; is `foundry controller run` running?", ErrUnreachable, subject)
	}
	if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(err.Error(), "Permissions Violation") {
		return &forbiddenError{subject: subject}
	}
	return fmt.Errorf("request %s: %w", subject, err)
}

func decodeAnswer[Res any](b []byte) (Res, error) {
	var zero Res
	resp, err := messages.DecodeAPI[messages.APIResponse[Res]](b)
	if err != nil {
		return zero, err
	}
	if resp.Error != nil {
		return zero, resp.Error
	}
	return resp.Result, nil
}

// pendingCall is a request sent and not yet answered. Requests sent with
// sendCall from one goroutine reach the controller in the order sent,
// which pipelined steps (artifact uploads) rely on.
type pendingCall[Res any] struct {
	subject string
	sub     *nats.Subscription
	denied  chan struct{}
	stop    func()
}

// sendCall publishes a request with a reply inbox of its own and returns
// at once; wait reads the answer.
func sendCall[Req, Res any](c *Client, subject string, req Req) (*pendingCall[Res], error) {
	m, err := c.signedRequest(subject, req)
	if err != nil {
		return nil, err
	}
	sub, err := c.nc.SubscribeSync(c.nc.NewRespInbox())
	if err != nil {
		return nil, callErr(subject, err)
	}
	denied, stop := c.watchDenied(subject)
	m.Reply = sub.Subject
	if err := c.nc.PublishMsg(m); err != nil {
		stop()
		_ = sub.Unsubscribe()
		return nil, callErr(subject, err)
	}
	return &pendingCall[Res]{subject: subject, sub: sub, denied: denied, stop: stop}, nil
}

// wait returns the answer, or an error when ctx ends first or the server
// refused the publish.
func (p *pendingCall[Res]) wait(ctx context.Context) (Res, error) {
	var zero Res
	defer p.stop()
	defer func() { _ = p.sub.Unsubscribe() }()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.denied:
			cancel()
		case <-rctx.Done():
		}
	}()
	msg, err := p.sub.NextMsgWithContext(rctx)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		err = nats.ErrPermissionViolation
	}
	if err != nil {
		return zero, callErr(p.subject, err)
	}
	if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
		return zero, callErr(p.subject, nats.ErrNoResponders)
	}
	return decodeAnswer[Res](msg.Data)
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

// RekeyHost rotates a host's NATS identity (two agent round trips, then
// the wait for the agent's new connection).
func (c *Client) RekeyHost(ctx context.Context, req messages.HostRekeyRequest) (messages.HostRekeyResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 50*time.Second)
	defer cancel()
	return call[messages.HostRekeyRequest, messages.HostRekeyResult](ctx, c, messages.APIHostRekey, req)
}

// Info describes the controller.
func (c *Client) Info(ctx context.Context) (messages.ControllerInfo, error) {
	return call[struct{}, messages.ControllerInfo](ctx, c, messages.APIInfo, struct{}{})
}

// CreateOperator registers an operator's public key with a role.
func (c *Client) CreateOperator(ctx context.Context, req messages.OperatorCreateRequest) (messages.OperatorInfo, error) {
	return call[messages.OperatorCreateRequest, messages.OperatorInfo](ctx, c, messages.APIOperatorCreate, req)
}

// ListOperators returns every operator, revoked ones included.
func (c *Client) ListOperators(ctx context.Context) (messages.OperatorListResult, error) {
	return call[messages.OperatorListRequest, messages.OperatorListResult](ctx, c, messages.APIOperatorList, messages.OperatorListRequest{})
}

// RevokeOperator revokes an operator and disconnects it.
func (c *Client) RevokeOperator(ctx context.Context, req messages.OperatorRevokeRequest) (messages.OperatorRevokeResult, error) {
	return call[messages.OperatorRevokeRequest, messages.OperatorRevokeResult](ctx, c, messages.APIOperatorRevoke, req)
}

// RotateSigningKey moves the fleet to a new command-signing key. The
// request waits for both fan-out phases.
func (c *Client) RotateSigningKey(ctx context.Context, req messages.RotateSigningKeyRequest) (messages.RotateSigningKeyResult, error) {
	per := time.Duration(req.TimeoutMs) * time.Millisecond
	if per <= 0 {
		per = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, 2*per+10*time.Second)
	defer cancel()
	return call[messages.RotateSigningKeyRequest, messages.RotateSigningKeyResult](ctx, c, messages.APIRotateSigningKey, req)
}

// RotateCerts reissues the controller's TLS server certificate.
func (c *Client) RotateCerts(ctx context.Context) (messages.RotateCertsResult, error) {
	return call[messages.RotateCertsRequest, messages.RotateCertsResult](ctx, c, messages.APIRotateCerts, messages.RotateCertsRequest{})
}

// SignCert has the controller sign a service's server certificate with
// Foundry's CA (admin only).
func (c *Client) SignCert(ctx context.Context, req messages.CertSignRequest) (messages.CertSignResult, error) {
	return call[messages.CertSignRequest, messages.CertSignResult](ctx, c, messages.APICertSign, req)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// WebLogin asks for a one-time login link to the controller's web view.
func (c *Client) WebLogin(ctx context.Context) (messages.WebLoginResult, error) {
	return call[messages.WebLoginRequest, messages.WebLoginResult](ctx, c, messages.APIWebLogin, messages.WebLoginRequest{})
}
