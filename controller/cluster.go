package controller

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/foundry-fleet/foundry/controller/pki"
)

// Clustering is NATS's own: controllers are nats-server instances joined
// by routes, and the registry, identities, events and audit live in
// JetStream with replicas. Nothing here elects, replicates or gossips by
// itself; this file only turns Options into server options and checks
// them. See docs/architecture.md, "Clustering".

// RouteSecretFile holds the route credential, in the data directory. It
// is part of the shared key set.
const RouteSecretFile = "route.secret"

// DefaultClusterName is the NATS cluster name when none is given.
const DefaultClusterName = "foundry"

// routeUser is the user name of the route credential. Routes authenticate
// twice: with a client certificate from the controller CA (mutual TLS) and
// with this user and the secret from route.secret.
const routeUser = "foundry-route"

// MaxReplicas is JetStream's largest replica count.
const MaxReplicas = 5

// SharedKeyFiles are the files every controller of one cluster must hold
// identically: the command-signing key (agents pin it), the bootstrap
// admin's seed, the CA (agents and CLIs pin it; each controller issues its
// own server certificate from it) and the route secret. RetiredKeysDir is
// shared too. The server certificate and the JetStream store are each
// controller's own.
var SharedKeyFiles = []string{SigningKeyFile, AdminCredsFile, pki.CAFile, pki.CAKeyFile, RouteSecretFile}

// nameRe bounds server and cluster names: NATS refuses spaces, and the
// name shows up in logs and monitoring.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// clusterPlan is the validated cluster part of Options.
type clusterPlan struct {
	host      string // route listen host
	port      int    // route listen port, -1 for random
	advertise string // host:port peers and gossip use for this node
	names     []string
	routes    []*url.URL // without credentials
	servers   int        // how many servers the routes describe, this one included
}

// planCluster validates the cluster options and fills in defaults
// (server name, cluster name, replicas). It changes opts in place.
func planCluster(opts *Options) (*clusterPlan, error) {
	if opts.Cluster == "" {
		if len(opts.Routes) > 0 {
			return nil, errors.New("--routes needs --cluster: give this controller a route listen address, e.g. --cluster 0.0.0.0:6222")
		}
		if opts.Replicas > 1 {
			return nil, fmt.Errorf("replicas %d needs a cluster; a single controller keeps one copy", opts.Replicas)
		}
		if opts.Replicas <= 0 {
			opts.Replicas = 1
		}
		if opts.Name == "" {
			opts.Name = "foundry-controller"
		}
		if !nameRe.MatchString(opts.Name) {
			return nil, fmt.Errorf("server name %q must be letters, digits, '.', '_' or '-' (at most 63)", opts.Name)
		}
		return nil, nil
	}
	if opts.Plaintext {
		return nil, errors.New("--cluster needs TLS: routes carry every command and credential, so they are encrypted and authenticated with the controller CA; remove --insecure-plaintext")
	}
	host, port, err := splitListen(opts.Cluster)
	if err != nil {
		return nil, fmt.Errorf("--cluster: %w", err)
	}
	if opts.Name == "" {
		hn, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("no --name given and the hostname is unknown (%v); give each controller a distinct --name", err)
		}
		opts.Name = strings.SplitN(hn, ".", 2)[0]
	}
	if !nameRe.MatchString(opts.Name) {
		return nil, fmt.Errorf("server name %q must be letters, digits, '.', '_' or '-' (at most 63)", opts.Name)
	}
	if opts.ClusterName == "" {
		opts.ClusterName = DefaultClusterName
	}
	if !nameRe.MatchString(opts.ClusterName) {
		return nil, fmt.Errorf("cluster name %q must be letters, digits, '.', '_' or '-' (at most 63)", opts.ClusterName)
	}
	p := &clusterPlan{host: host, port: port}
	switch {
	case opts.ClusterAdvertise != "":
		ah, ap, err := net.SplitHostPort(opts.ClusterAdvertise)
		if err != nil || ah == "" {
			return nil, fmt.Errorf("--cluster-advertise %q must be host:port", opts.ClusterAdvertise)
		}
		if _, err := strconv.Atoi(ap); err != nil {
			return nil, fmt.Errorf("--cluster-advertise port %q is not a number", ap)
		}
		p.advertise = opts.ClusterAdvertise
		p.names = []string{ah}
	default:
		// Peers reach this node's routes under its first advertised
		// name that is not loopback, which is in its certificate. Port 0
		// means "the port we listen on" to nats-server.
		aport := "0"
		if port > 0 {
			aport = strconv.Itoa(port)
		}
		p.advertise = net.JoinHostPort(primaryAdvertise(opts.Advertise), aport)
	}
	self := false
	for _, r := range opts.Routes {
		u, err := parseRoute(r)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(p.routes, func(o *url.URL) bool { return strings.EqualFold(o.Host, u.Host) }) {
			continue
		}
		p.routes = append(p.routes, u)
		if p.isSelf(u, opts) {
			self = true
		}
	}
	p.servers = len(p.routes)
	if !self {
		p.servers++
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
		if p.servers >= 3 {
			opts.Replicas = 3
		}
	}
	if opts.Replicas > MaxReplicas {
		return nil, fmt.Errorf("replicas %d: JetStream keeps at most %d", opts.Replicas, MaxReplicas)
	}
	if opts.Replicas > p.servers {
		return nil, fmt.Errorf("replicas %d but --routes names only %d servers (this one included); list every controller in --routes", opts.Replicas, p.servers)
	}
	return p, nil
}

// parseRoute accepts nats://host:port or host:port. Credentials in the
// URL are refused: the route secret comes from the data directory, so it
// is never on a command line or in a unit file.
func parseRoute(r string) (*url.URL, error) {
	r = strings.TrimSpace(r)
	if !strings.Contains(r, "://") {
		r = "nats://" + r
	}
	u, err := url.Parse(r)
	if err != nil || u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("route %q must be nats://host:port", r)
	}
	if u.Scheme != "nats" && u.Scheme != "nats-route" && u.Scheme != "tls" {
		return nil, fmt.Errorf("route %q: scheme must be nats:// (routes are TLS whatever the scheme)", r)
	}
	if u.User != nil {
		return nil, fmt.Errorf("route %s carries credentials; remove them, the route secret is read from %s in the data directory", u.Redacted(), RouteSecretFile)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("route %q must be nats://host:port with no path", r)
	}
	return &url.URL{Scheme: "nats", Host: u.Host}, nil
}

// isSelf guesses whether u points at this node, only to count servers for
// the default replica count (nats-server itself detects and skips a route
// to itself).
func (p *clusterPlan) isSelf(u *url.URL, opts *Options) bool {
	if strings.EqualFold(u.Host, p.advertise) {
		return true
	}
	if p.port <= 0 || u.Port() != strconv.Itoa(p.port) {
		return false
	}
	h := u.Hostname()
	cands := append([]string{p.host, opts.Name}, opts.Advertise...)
	if hn, err := os.Hostname(); err == nil {
		cands = append(cands, hn)
	}
	for _, c := range cands {
		if c != "" && strings.EqualFold(c, h) {
			return true
		}
	}
	return false
}

// configureCluster sets the route listener, routes, route TLS and route
// authorization on sopts.
func (c *Controller) configureCluster(sopts *server.Options, p *clusterPlan) error {
	secret, created, err := loadOrCreateRouteSecret(c.opts.DataDir)
	if err != nil {
		return err
	}
	if created {
		c.logger.Warn("created a new route secret; copy the shared key set to the other controllers (foundry controller init --keys-from) or their routes are refused",
			"file", filepath.Join(c.opts.DataDir, RouteSecretFile))
	}
	pool, err := pki.Pool(c.caPEM)
	if err != nil {
		return err
	}
	sopts.Cluster = server.ClusterOpts{
		Name:      c.opts.ClusterName,
		Host:      p.host,
		Port:      p.port,
		Advertise: p.advertise,
		Username:  routeUser,
		Password:  secret,
		TLSConfig: c.certs.routeTLS(pool),
		// TLS handshake plus CONNECT; generous for a WAN link.
		TLSTimeout:  5,
		AuthTimeout: 5,
		// Routes keep a short ping: a member that vanished without
		// closing its sockets is noticed within 60-80 s, and the number
		// of route connections does not grow with the fleet.
		PingInterval: routePingInterval,
		MaxPingsOut:  3,
	}
	for _, r := range p.routes {
		u := *r
		u.User = url.UserPassword(routeUser, secret)
		sopts.Routes = append(sopts.Routes, &u)
	}
	// Clients learn the other controllers from the server's INFO
	// (connect_urls); advertise the name in this node's certificate
	// rather than every interface address, so TLS verification works.
	sopts.ClientAdvertise = net.JoinHostPort(primaryAdvertise(c.opts.Advertise), "0")
	if lh, _, _ := splitListen(c.opts.Listen); isLoopback(primaryAdvertise(c.opts.Advertise)) && !isLoopback(lh) {
		c.logger.Warn("this cluster member advertises only loopback addresses; agents on other machines cannot use the URL other members hand out for it; pass --advertise with its name",
			"advertise", c.opts.Advertise)
	}
	return nil
}

// primaryAdvertise is the name other machines should use for this
// controller: the first advertised name that is not loopback, else the
// first one.
func primaryAdvertise(names []string) string {
	for _, n := range names {
		if !isLoopback(n) {
			return n
		}
	}
	return names[0]
}

func isLoopback(name string) bool {
	if ip := net.ParseIP(name); ip != nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(name, "localhost")
}

// routeTLS is the route listener's TLS: the node's certificate serves both
// ends (it has ServerAuth and ClientAuth), a peer must present a
// certificate from the same CA, and the peer's certificate must carry the
// name this node dialed. nats-server uses one config for both directions.
func (h *certHolder) routeTLS(pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: h.getCertificate,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return h.cur.Load(), nil
		},
		RootCAs:    pool,
		ClientCAs:  pool,
		ClientAuth: tls.RequireAndVerifyClientCert,
	}
}

// loadOrCreateRouteSecret returns the route credential, creating it (32
// random bytes, 0600) when absent.
func loadOrCreateRouteSecret(dir string) (string, bool, error) {
	path := filepath.Join(dir, RouteSecretFile)
	b, err := readPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return "", false, err
		}
		s := base64.RawURLEncoding.EncodeToString(raw)
		if err := pki.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
			return "", false, fmt.Errorf("write %s: %w", path, err)
		}
		return s, true, nil
	}
	if err != nil {
		return "", false, err
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 32 {
		return "", false, fmt.Errorf("%s is too short to be a route secret; copy it from another controller of the cluster", path)
	}
	return s, false, nil
}

// CopySharedKeys copies the shared key set (SharedKeyFiles and the retired
// signing keys) from another controller's data directory, or a copy of
// it, into dir, so a new controller joins the same cluster: agents and
// CLIs trust it (same CA and signing key), the bootstrap admin works on it
// and its routes are accepted. Files already in dir must be identical;
// nothing is overwritten. It returns the files it wrote.
func CopySharedKeys(from, dir string) ([]string, error) {
	if from == "" || dir == "" {
		return nil, fmt.Errorf("%w: no data directory given", ErrDataDir)
	}
	if af, _ := filepath.Abs(from); af != "" {
		if ad, _ := filepath.Abs(dir); af == ad {
			return nil, errors.New("--keys-from is the data directory itself")
		}
	}
	type file struct {
		rel  string
		mode os.FileMode
		data []byte
	}
	var files []file
	for _, f := range SharedKeyFiles {
		p := filepath.Join(from, f)
		var b []byte
		var err error
		mode := os.FileMode(0o600)
		if f == pki.CAFile {
			mode = 0o644
			b, err = os.ReadFile(p)
		} else {
			b, err = readPrivate(p)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s has no %s; run foundry controller init on the first controller and copy its data directory's %s", from, f, strings.Join(SharedKeyFiles, ", "))
		}
		if err != nil {
			return nil, err
		}
		files = append(files, file{f, mode, b})
	}
	retired, err := os.ReadDir(filepath.Join(from, RetiredKeysDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range retired {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		rel := filepath.Join(RetiredKeysDir, e.Name())
		b, err := readPrivate(filepath.Join(from, rel))
		if err != nil {
			return nil, err
		}
		files = append(files, file{rel, 0o600, b})
	}
	// Check everything before writing anything.
	var todo []file
	for _, f := range files {
		cur, err := os.ReadFile(filepath.Join(dir, f.rel))
		switch {
		case errors.Is(err, os.ErrNotExist):
			todo = append(todo, f)
		case err != nil:
			return nil, err
		case !bytes.Equal(bytes.TrimSpace(cur), bytes.TrimSpace(f.data)):
			return nil, fmt.Errorf("%s already holds a different %s: it belongs to another controller or cluster; use an empty --data-dir", dir, f.rel)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDataDir, err)
	}
	var wrote []string
	for _, f := range todo {
		p := filepath.Join(dir, f.rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return wrote, err
		}
		if err := pki.WriteFile(p, f.data, f.mode); err != nil {
			return wrote, fmt.Errorf("write %s: %w", p, err)
		}
		wrote = append(wrote, f.rel)
	}
	return wrote, nil
}

// retry runs fn until it succeeds or ctx ends, backing off from 250 ms to
// 5 s. A cluster that is still forming (no JetStream meta leader yet, too
// few peers for the replicas, a stream without a leader) answers with
// errors that go away by themselves.
func (c *Controller) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	if c.plan == nil {
		return fn(ctx)
	}
	delay := 250 * time.Millisecond
	// While a cluster forms, JetStream API requests are often dropped
	// rather than refused, and when every member creates the same stream
	// at once only some get an answer. So the first attempts get 1 s
	// each and are repeated soon; later ones (a slow disk, a long
	// election) get more time.
	limit := time.Second
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, limit)
		if attempt >= 5 {
			limit = min(limit*2, 10*time.Second)
		}
		err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 3 {
				c.logger.Info("cluster ready for "+what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		}
		// The first failures are normal while members start together.
		if attempt == 3 || attempt%10 == 0 {
			c.logger.Warn("waiting for the cluster", "step", what, "attempt", attempt, "err", err)
		} else {
			c.logger.Debug("waiting for the cluster", "step", what, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 5*time.Second)
	}
}

// waitJetStream returns once JetStream answers API requests. Requests sent
// while a cluster is still forming (routes coming up, no meta leader yet)
// are dropped, not refused, so this asks with a short deadline, again and
// again, rather than letting the first real request wait out a long one.
func (c *Controller) waitJetStream(ctx context.Context) error {
	return c.retry(ctx, "reach JetStream", func(ctx context.Context) error {
		_, err := c.js.AccountInfo(ctx)
		return err
	})
}

// clustered reports whether JetStream runs as a cluster.
func (c *Controller) clustered() bool { return c.plan != nil }

// leads reports whether this controller does the cluster-wide chores
// (state-change events, liveness commands): the JetStream meta leader
// does. A single controller always leads. While a cluster elects a new
// leader nobody leads for a moment, and an event may be missed; the
// registry itself stays right.
func (c *Controller) leads() bool {
	return c.plan == nil || c.srv.JetStreamIsLeader()
}

// clientURLs are the URLs an agent or CLI should know: this controller's
// own, then the other cluster members' as their servers announce them.
func (c *Controller) clientURLs() []string {
	out := slices.Clone(c.urls)
	if c.plan == nil || c.nc == nil {
		return out
	}
	scheme := "tls://"
	if c.opts.Plaintext {
		scheme = "nats://"
	}
	for _, u := range c.nc.DiscoveredServers() {
		// The in-process connection learns them as nats://, whatever the
		// client port requires.
		_, hostPort, _ := strings.Cut(u, "://")
		if u = scheme + hostPort; !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// ServerName is this controller's NATS server name, unique in a cluster.
func (c *Controller) ServerName() string { return c.opts.Name }

// Replicas is the replica count of the controller's streams and buckets.
func (c *Controller) Replicas() int { return c.opts.Replicas }

// appendNew appends the values of vs that s does not hold yet.
func appendNew(s []string, vs ...string) []string {
	for _, v := range vs {
		if v != "" && !slices.Contains(s, v) {
			s = append(s, v)
		}
	}
	return s
}
