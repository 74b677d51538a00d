package controller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/messages"
)

// certHolder serves the TLS server certificate through GetCertificate, so
// a rotated certificate is used from the next handshake on without
// restarting NATS. Connections already up keep their session, and agents,
// which pin the CA rather than the certificate, accept the new one.
type certHolder struct {
	dir   string
	names []string

	mu  sync.Mutex // serializes rotations
	mat *pki.Material
	cur atomic.Pointer[tls.Certificate]
}

func newCertHolder(dir string, names []string) (*certHolder, error) {
	mat, err := pki.Ensure(dir, names)
	if err != nil {
		return nil, err
	}
	h := &certHolder{dir: dir, names: names, mat: mat}
	cert := mat.Server
	h.cur.Store(&cert)
	return h, nil
}

func (h *certHolder) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return h.cur.Load(), nil
}

// serverTLS is the server's TLS config. Client certificates are not
// requested: a client's identity is its NKey, and a certificate it might
// present grants nothing (see docs/architecture.md).
func (h *certHolder) serverTLS() *tls.Config {
	return &tls.Config{GetCertificate: h.getCertificate, MinVersion: tls.VersionTLS12, ClientAuth: tls.NoClientCert}
}

func (h *certHolder) rotate() (messages.RotateCertsResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.mat.Issue(h.dir, h.names); err != nil {
		return messages.RotateCertsResult{}, fmt.Errorf("issue server certificate: %w", err)
	}
	cert := h.mat.Server
	h.cur.Store(&cert)
	return certResult(cert)
}

func certResult(cert tls.Certificate) (messages.RotateCertsResult, error) {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return messages.RotateCertsResult{}, err
	}
	names := append([]string{}, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return messages.RotateCertsResult{Serial: leaf.SerialNumber.Text(16), NotAfter: leaf.NotAfter.UnixMilli(), Names: names}, nil
}

// RotateCerts reissues the server certificate from the same CA for the
// advertised names and serves it from the next TLS handshake on.
func (c *Controller) RotateCerts(_ context.Context, _ messages.RotateCertsRequest) (messages.RotateCertsResult, error) {
	if c.certs == nil {
		return messages.RotateCertsResult{}, &messages.Error{Code: messages.CodeBadRequest, Message: "this controller runs without TLS; restart it without --insecure-plaintext to use certificates"}
	}
	res, err := c.certs.rotate()
	if err == nil {
		c.logger.Info("server certificate rotated", "serial", res.Serial, "names", res.Names)
	}
	return res, err
}

// certNames are the names the server certificate covers: the advertised
// ones, and every name this machine's own CLI may dial it by (loopback,
// localhost, the host name, a specific listen address). Agents get only
// the advertised URLs; the local names are there so that
// `--advertise 10.0.0.5` does not break the admin's CLI on the controller
// machine, which dials 127.0.0.1.
func certNames(listenHost string, advertise []string) []string {
	names := appendNew(slices.Clone(advertise), "127.0.0.1", "::1", "localhost")
	if hn, err := os.Hostname(); err == nil {
		names = appendNew(names, hn)
	}
	if !wildcardHost(listenHost) {
		names = appendNew(names, listenHost)
	}
	return names
}

func wildcardHost(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }

// InitOptions say where and for which names to create a controller's keys.
type InitOptions struct {
	DataDir string
	// Listen is used only to choose default Advertise names.
	Listen    string
	Advertise []string
	Plaintext bool
}

// InitResult says what Init found or created.
type InitResult struct {
	DataDir     string   `json:"data_dir"`
	SigningKey  string   `json:"signing_key"`  // public
	AdminKey    string   `json:"admin_key"`    // public
	AdminCreds  string   `json:"admin_creds"`  // path of the seed file
	RouteSecret string   `json:"route_secret"` // path of the cluster route secret
	CAFile      string   `json:"ca_file,omitempty"`
	Names       []string `json:"names,omitempty"`
	CertSerial  string   `json:"cert_serial,omitempty"`
	CertExpires int64    `json:"cert_expires,omitempty"` // unix ms
}

// Init creates the controller's keys, CA and server certificate without
// starting anything, so they can be backed up or inspected before the
// first run. It is idempotent: what exists is kept (a server certificate
// that does not cover the names is reissued), so running it again is safe.
func Init(opts InitOptions) (InitResult, error) {
	if opts.DataDir == "" {
		return InitResult{}, fmt.Errorf("%w: no data directory given", ErrDataDir)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("%w: %v", ErrDataDir, err)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:4222"
	}
	host, _, err := splitListen(opts.Listen)
	if err != nil {
		return InitResult{}, err
	}
	if len(opts.Advertise) == 0 {
		opts.Advertise = defaultAdvertise(host)
	}
	res := InitResult{DataDir: opts.DataDir, AdminCreds: filepath.Join(opts.DataDir, AdminCredsFile)}
	keys, err := loadKeyring(opts.DataDir)
	if err != nil {
		return res, err
	}
	res.SigningKey = keys.trusted()[0]
	kp, _, err := loadOrCreateNKey(res.AdminCreds)
	if err != nil {
		return res, err
	}
	res.AdminKey, _ = kp.PublicKey()
	// Made even for a single controller, so that copying the data
	// directory's shared key set is all it takes to add a second one.
	if _, _, err := loadOrCreateRouteSecret(opts.DataDir); err != nil {
		return res, err
	}
	res.RouteSecret = filepath.Join(opts.DataDir, RouteSecretFile)
	if !opts.Plaintext {
		h, err := newCertHolder(opts.DataDir, certNames(host, opts.Advertise))
		if err != nil {
			return res, fmt.Errorf("prepare TLS: %w", err)
		}
		info, err := certResult(*h.cur.Load())
		if err != nil {
			return res, err
		}
		res.CAFile = filepath.Join(opts.DataDir, pki.CAFile)
		res.Names, res.CertSerial, res.CertExpires = info.Names, info.Serial, info.NotAfter
	}
	return res, nil
}
