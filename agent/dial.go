package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/messages"
)

// connectTimeout bounds one connection attempt: dial, TLS handshake and
// NATS CONNECT.
const connectTimeout = 5 * time.Second

// SourceDialer dials from the local address, choosing the port with the
// whole 4-tuple (bindAddressNoPort). Simulations, and the raw NATS
// baseline they are measured against, give each process its own loopback
// address this way.
func SourceDialer(local net.Addr, timeout time.Duration) *net.Dialer {
	return &net.Dialer{LocalAddr: local, Timeout: timeout, Control: bindAddressNoPort}
}

// identityOptions are what every connection of the agent needs: its name,
// its NKey, the CA it trusts, the connect timeout and the source address.
func (a *Agent) identityOptions(name string) ([]nats.Option, error) {
	seed, err := readSeed(a.cfg.NKeyFile)
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("nkey_file %s is not an NKey seed: %w", a.cfg.NKeyFile, err)
	}
	pub, _ := kp.PublicKey()
	opts := []nats.Option{
		nats.Name(name),
		nats.Nkey(pub, kp.Sign),
		// A controller in a reconnect storm can take more than nats.go's
		// 2 s to finish a TLS handshake; giving up then only retries into
		// the same queue, and the abandoned connection still counts
		// against the identity's connection limit until the server
		// notices, so the retry may be refused.
		nats.Timeout(connectTimeout),
	}
	if a.opts.LocalAddr != nil {
		opts = append(opts, nats.SetCustomDialer(SourceDialer(a.opts.LocalAddr, connectTimeout)))
	}
	if a.cfg.CAFile != "" {
		pem, err := os.ReadFile(a.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", a.cfg.CAFile)
		}
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	return opts, nil
}

// dialFetch opens the connection for one artifact read. The controller
// gives it the store's read permissions and the agent's inbox, which the
// long-lived connection does not carry (see messages.AgentFetchConnName).
// It does not reconnect: a fetch that loses its connection fails, and the
// service step reports it. Fetches take turns: service operations run in
// parallel (maxServiceOps), but every connection counts against the
// identity's limit (long-lived, one reconnecting, one fetch); the turn
// ends when the connection closes, with the reader.
func (a *Agent) dialFetch(ctx context.Context) (*nats.Conn, error) {
	select {
	case a.fetchSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for another artifact fetch to finish: %w", ctx.Err())
	}
	var once sync.Once
	release := func() { once.Do(func() { <-a.fetchSlot }) }
	opts, err := a.identityOptions(messages.AgentFetchConnName(a.cfg.ID))
	if err != nil {
		release()
		return nil, err
	}
	opts = append(opts, nats.NoReconnect(),
		// The only inbox its permissions let it subscribe to; the
		// JetStream answers arrive there.
		nats.CustomInboxPrefix(messages.AgentInbox(a.cfg.ID)),
		nats.ClosedHandler(func(nc *nats.Conn) { a.counters.fetched.Add(nc.Stats().InBytes); release() }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			a.logger.Warn("artifact fetch connection", "err", err)
		}))
	nc, err := nats.Connect(strings.Join(a.cfg.URLs, ","), opts...)
	if err != nil {
		release()
		return nil, fmt.Errorf("connect for the artifact fetch to %v: %w", a.cfg.URLs, err)
	}
	return nc, nil
}
