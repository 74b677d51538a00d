// Package web serves the controller's read-only web view: the fleet with
// live state, jobs with live progress, the stack as the last status jobs
// saw it, events and audit, and /metrics for Prometheus.
//
// It reads through the narrow interfaces below (the controller satisfies
// all of them), never the controller's internals, and it can do nothing:
// every route is a GET, and a request with any other method is refused
// before routing, which is also what makes it CSRF-safe. Every data route
// needs a session, which only a one-time login link from `foundry
// controller web-login` creates.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

//go:embed assets
var assetsFS embed.FS

// Fleet is the registry as `host list` shows it.
type Fleet interface {
	Hosts(ctx context.Context) ([]messages.HostRecord, error)
}

// Jobs are the controller's job records.
type Jobs interface {
	ListJobs(ctx context.Context, req messages.JobListRequest) (messages.JobListResult, error)
	ShowJob(ctx context.Context, req messages.JobShowRequest) (messages.JobRecord, error)
}

// ClusterStack is the cluster components as the last status runs
// reported them (the controller cannot read the cluster itself).
type ClusterStack interface {
	ListStack(ctx context.Context, req messages.StackListRequest) (messages.StackListResult, error)
}

// Streams read the events and audit streams with the CLI's filters.
type Streams interface {
	Events(ctx context.Context, q client.EventQuery, fn func(messages.Event) error) error
	Audit(ctx context.Context, q client.AuditQuery, fn func(messages.AuditRecord) error) error
}

// Auditor records logins in the audit stream.
type Auditor interface {
	RecordAudit(ctx context.Context, r messages.AuditRecord) error
}

// Operators says whether an operator's credentials still stand, so a
// session ends when its operator is revoked.
type Operators interface {
	OperatorActive(publicKey string) bool
}

// Source is everything the view reads; *controller.Controller is one.
type Source interface {
	Fleet
	Jobs
	ClusterStack
	Streams
	Auditor
	Operators
}

// Config configures a Server. Zero durations mean the defaults.
type Config struct {
	// BaseURL is how login links start, e.g. http://127.0.0.1:8080.
	BaseURL string
	Logger  *slog.Logger
	// ScrapeTokenFile holds the bearer token Prometheus may use for
	// /metrics instead of a session; created 0600 when absent. Empty
	// means no scrape token.
	ScrapeTokenFile string
	LoginTTL        time.Duration // default DefaultLoginTTL
	SessionTTL      time.Duration // default DefaultSessionTTL
	// Tick is how often the fleet is compared with what subscribers were
	// sent (events trigger a comparison at once too); default 1s.
	Tick time.Duration
	// Now is the clock (tests move it to expire sessions).
	Now func() time.Time
}

// Defaults for Config.
const (
	DefaultLoginTTL   = 2 * time.Minute
	DefaultSessionTTL = 8 * time.Hour
	defaultTick       = time.Second
)

// Server is the web view.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	src      Source
	metricsH http.Handler    // nil: /metrics answers 404
	done     <-chan struct{} // closed when Attach's ctx ends: streams end with it
	auth     *authStore
	hub      *hub
	routes   []Route
	mux      *http.ServeMux
}

// Route is one path the server answers. Public routes are served without
// a session; every other route refuses a request without one.
type Route struct {
	Pattern string
	Public  bool
	handler http.HandlerFunc
}

// New prepares a server; Attach gives it its source before it serves.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LoginTTL <= 0 {
		cfg.LoginTTL = DefaultLoginTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Tick <= 0 {
		cfg.Tick = defaultTick
	}
	auth := newAuthStore(cfg.Now, cfg.LoginTTL, cfg.SessionTTL)
	if cfg.ScrapeTokenFile != "" {
		tok, err := loadScrapeToken(cfg.ScrapeTokenFile)
		if err != nil {
			return nil, err
		}
		auth.scrape = tok
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, auth: auth}
	s.buildRoutes()
	return s, nil
}

// Attach sets what the view reads and starts following the fleet and the
// event stream until ctx ends. metrics is served at /metrics, on the
// listener the operator already opened (nil answers 404).
func (s *Server) Attach(ctx context.Context, src Source, metrics http.Handler) {
	s.src = src
	s.metricsH = metrics
	s.done = ctx.Done()
	s.hub = newHub(src, s.cfg.Tick, s.cfg.Now, s.logger)
	go s.hub.run(ctx)
}

// Routes lists every route, so a test can check that none serves data
// without a session.
func (s *Server) Routes() []Route { return s.routes }

func (s *Server) buildRoutes() {
	static, _ := fs.Sub(assetsFS, "assets/static")
	files := http.FileServerFS(static)
	s.routes = []Route{
		{Pattern: "/login", Public: true, handler: s.login},
		{Pattern: "/static/", Public: true, handler: http.StripPrefix("/static/", files).ServeHTTP},
		{Pattern: "/{$}", handler: s.index},
		{Pattern: "/api/hosts", handler: s.hosts},
		{Pattern: "/api/stream", handler: s.stream},
		{Pattern: "/api/jobs", handler: s.jobs},
		{Pattern: "/api/jobs/{id}", handler: s.job},
		{Pattern: "/api/jobs/{id}/stream", handler: s.jobStream},
		{Pattern: "/api/stack", handler: s.stack},
		{Pattern: "/api/events", handler: s.events},
		{Pattern: "/api/audit", handler: s.audit},
		{Pattern: "/api/whoami", handler: s.whoami},
		{Pattern: "/metrics", handler: s.metrics},
	}
	s.mux = http.NewServeMux()
	for _, r := range s.routes {
		h := r.handler
		if !r.Public {
			h = s.requireSession(r.Pattern == "/metrics", h)
		}
		s.mux.HandleFunc("GET "+r.Pattern, h)
	}
}

// Handler serves the view: security headers on every answer, and only
// GET and HEAD.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "the web view is read-only", http.StatusMethodNotAllowed)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// ContentSecurityPolicy allows only the view's own files: no inline
// script or style, no other origin, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Serve runs the view on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web view: %w", err)
	}
	return nil
}

// IsLoopback reports whether addr (host:port) listens on loopback only;
// anything else is served to the network and is warned about.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
