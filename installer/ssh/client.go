package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	xssh "golang.org/x/crypto/ssh"
)

// Default timeouts of Dial.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultHandshakeTimeout = 30 * time.Second
)

// Options says where and how to connect. Host, User, KnownHostsFile and at
// least one credential are required.
type Options struct {
	Host string // name or IP address
	Port int    // 0 means 22
	User string

	// Password logs in with the "password" (or keyboard-interactive) method
	// and is also the default sudo password. Dial copies it: the caller may
	// wipe its slice as soon as Dial returns. The copy used for login is
	// wiped after the handshake, the sudo copy on Close.
	Password []byte
	// SudoPassword, if set, is used for sudo instead of Password.
	SudoPassword []byte
	// PrivateKey is an in-memory PEM private key; PrivateKeyFile names one.
	PrivateKey     []byte
	PrivateKeyFile string
	// KeyPassphrase decrypts an encrypted private key.
	KeyPassphrase []byte

	// KnownHostsFile is Foundry's own known_hosts (e.g. ~/.foundry/known_hosts).
	// It is created 0600 when missing. Host keys are always checked against it.
	KnownHostsFile string
	// TrustPrompt is asked about hosts not yet pinned in KnownHostsFile. If
	// nil, unknown hosts are refused.
	TrustPrompt TrustPrompt

	// ConnectTimeout bounds the TCP connect (default DefaultConnectTimeout);
	// a deadline of ctx that comes sooner wins.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds key exchange and authentication (default
	// DefaultHandshakeTimeout). Time spent in TrustPrompt does not count.
	HandshakeTimeout time.Duration

	// Logger receives connection events (never secrets). Nil discards them.
	Logger *slog.Logger
}

// Client is a Runner over one SSH connection. Sessions are opened per
// command, so it is safe for concurrent use.
type Client struct {
	core   core
	addr   string
	client *xssh.Client
	log    *slog.Logger
	closed atomic.Bool
}

var _ Runner = (*Client)(nil)

// UnreachableError reports that no TCP connection to the SSH port was made.
type UnreachableError struct {
	Host    string
	Port    int
	Timeout time.Duration
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot connect to %s on port %d (connect timeout %s): %v; check the address, that sshd runs there and that no firewall blocks the port",
		e.Host, e.Port, e.Timeout, e.Err)
}

// Unwrap returns the dial error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// AuthError reports that the server accepted none of the credentials.
type AuthError struct {
	User    string
	Addr    string
	Methods []string // the methods offered, e.g. ["publickey" "password"]
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("authentication failed for user %s on %s (tried %s); check the user name and the password or key",
		e.User, e.Addr, strings.Join(e.Methods, ", "))
}

// Is makes errors.Is(err, ErrAuth) true.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// Dial connects and authenticates to opts.Host, verifying its host key
// against opts.KnownHostsFile.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.Host == "" || opts.User == "" {
		return nil, errors.New("ssh: host and user are required")
	}
	port := opts.Port
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(opts.Host, strconv.Itoa(port))
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("host", addr, "user", opts.User)
	connectTimeout := orDefault(opts.ConnectTimeout, DefaultConnectTimeout)
	handshakeTimeout := orDefault(opts.HandshakeTimeout, DefaultHandshakeTimeout)

	verifier, err := newHostKeyVerifier(opts.KnownHostsFile, opts.TrustPrompt, log)
	if err != nil {
		return nil, err
	}
	algos, err := verifier.algorithms(addr)
	if err != nil {
		return nil, err
	}
	auth, methods, wipeLogin, err := authMethods(opts)
	defer wipeLogin()
	if err != nil {
		return nil, fmt.Errorf("ssh %s@%s: %w", opts.User, addr, err)
	}

	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to %s: %w", addr, ctx.Err())
		}
		return nil, &UnreachableError{Host: opts.Host, Port: port, Timeout: connectTimeout, Err: err}
	}

	// The handshake has its own budget; cancelling ctx aborts it.
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	cfg := &xssh.ClientConfig{
		User:              opts.User,
		Auth:              auth,
		HostKeyCallback:   verifier.callback(conn, handshakeTimeout),
		HostKeyAlgorithms: algos,
		ClientVersion:     "SSH-2.0-Foundry",
	}
	sc, chans, reqs, err := xssh.NewClientConn(conn, addr, cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, fmt.Errorf("connecting to %s: %w", addr, ctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, handshakeError(err, opts.User, addr, methods, verifier, algos)
	}
	_ = conn.SetDeadline(time.Time{})
	log.Debug("ssh connected")

	c := &Client{addr: addr, client: xssh.NewClient(sc, chans, reqs), log: log}
	c.core = core{host: addr, user: opts.User, exec: c.exec}
	switch {
	case len(opts.SudoPassword) > 0:
		c.core.sudoPass = append([]byte(nil), opts.SudoPassword...)
	case len(opts.Password) > 0:
		c.core.sudoPass = append([]byte(nil), opts.Password...)
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// handshakeError turns x/crypto's handshake failures into errors that say
// what to do.
func handshakeError(err error, user, addr string, methods []string, v *hostKeyVerifier, algos []string) error {
	var changed *HostKeyChangedError
	var unknown *HostKeyUnknownError
	switch {
	case errors.As(err, &changed):
		return changed
	case errors.As(err, &unknown):
		return unknown
	case strings.Contains(err.Error(), "unable to authenticate"):
		return &AuthError{User: user, Addr: addr, Methods: methods}
	case strings.Contains(err.Error(), "no common algorithm for host key"):
		// Only the pinned key types were offered to the server.
		if pinned := v.pinned(addr); len(pinned) > 0 {
			return &HostKeyChangedError{Host: hostOf(addr), File: v.file, Pinned: pinned}
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("ssh handshake with %s timed out (is it an SSH server?): %w", addr, err)
	}
	return fmt.Errorf("ssh handshake with %s as %s: %w", addr, user, err)
}

// authMethods builds the auth methods from opts. wipe clears the login copy
// of the password; call it once the handshake is over.
func authMethods(opts Options) (auth []xssh.AuthMethod, names []string, wipe func(), err error) {
	wipe = func() {}
	if len(opts.PrivateKey) > 0 || opts.PrivateKeyFile != "" {
		signer, err := loadSigner(opts)
		if err != nil {
			return nil, nil, wipe, err
		}
		auth = append(auth, xssh.PublicKeys(signer))
		names = append(names, "publickey")
	}
	if len(opts.Password) > 0 {
		pw := append([]byte(nil), opts.Password...)
		wipe = func() { zero(pw) }
		// string(pw) is a copy we cannot wipe: x/crypto wants a string.
		auth = append(auth,
			xssh.PasswordCallback(func() (string, error) { return string(pw), nil }),
			xssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
						answers[i] = string(pw)
					}
				}
				return answers, nil
			}))
		names = append(names, "password")
	}
	if len(auth) == 0 {
		return nil, nil, wipe, errors.New("no credential: give a password or a private key")
	}
	return auth, names, wipe, nil
}

func loadSigner(opts Options) (xssh.Signer, error) {
	pemBytes := opts.PrivateKey
	if len(pemBytes) == 0 {
		b, err := os.ReadFile(opts.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading private key: %w", err)
		}
		defer zero(b)
		pemBytes = b
	}
	var signer xssh.Signer
	var err error
	if len(opts.KeyPassphrase) > 0 {
		signer, err = xssh.ParsePrivateKeyWithPassphrase(pemBytes, opts.KeyPassphrase)
	} else {
		signer, err = xssh.ParsePrivateKey(pemBytes)
	}
	var missing *xssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, errors.New("the private key is encrypted: give its passphrase")
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	return signer, nil
}

// Host returns "host:port" as dialed.
func (c *Client) Host() string { return c.addr }

// Run runs cmd.Line with /bin/sh -c on the host, in a new SSH session.
func (c *Client) Run(ctx context.Context, cmd Command) (Result, error) {
	if c.closed.Load() {
		return Result{}, fmt.Errorf("%s: %w", c.addr, errClosed)
	}
	return c.core.run(ctx, cmd)
}

// Close closes the connection and wipes the sudo password.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.core.wipe()
	return c.client.Close()
}

func (c *Client) exec(ctx context.Context, argv []string, stdin io.Reader, tee io.Writer) (Result, string, error) {
	line := QuoteArgs(argv...)
	sess, err := c.client.NewSession()
	if err != nil {
		return Result{}, "", fmt.Errorf("%s: opening an ssh session: %w", c.addr, err)
	}
	defer sess.Close()
	stdout, stderr := newCappedBuffer(), newCappedBuffer()
	sess.Stdout, sess.Stderr = teeTo(stdout, tee), stderr
	var pipe io.WriteCloser
	if stdin != nil {
		if pipe, err = sess.StdinPipe(); err != nil {
			return Result{}, "", fmt.Errorf("%s: %w", c.addr, err)
		}
	}
	if err := sess.Start(line); err != nil {
		return Result{}, "", fmt.Errorf("%s: starting %q: %w", c.addr, argv[len(argv)-1], err)
	}
	feed := feedStdin(pipe, stdin) // not Session.Stdin
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = sess.Signal(xssh.SIGKILL)
		sess.Close()
		return Result{}, "", fmt.Errorf("%s: %q: %w", c.addr, argv[len(argv)-1], ctx.Err())
	}
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if rerr := feed.err(); rerr != nil {
		return res, "", fmt.Errorf("%s: reading the command's stdin: %w", c.addr, rerr)
	}
	var ee *xssh.ExitError
	var missing *xssh.ExitMissingError
	switch {
	case err == nil:
		return res, "", nil
	case errors.As(err, &ee):
		if ee.Signal() != "" {
			res.ExitCode = -1
			return res, ee.Signal(), nil
		}
		res.ExitCode = ee.ExitStatus()
		return res, "", nil
	case errors.As(err, &missing):
		return res, "", fmt.Errorf("%s: the command ended without an exit status (connection lost?)", c.addr)
	default:
		return res, "", fmt.Errorf("%s: running %q: %w", c.addr, argv[len(argv)-1], err)
	}
}
