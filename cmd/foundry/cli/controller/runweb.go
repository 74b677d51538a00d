package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/web"
	"github.com/foundry-fleet/foundry/messages"
)

// ScrapeTokenFile is where, in the data directory, the bearer token for
// /metrics is kept (0600).
const ScrapeTokenFile = "web-scrape-token"

// webView is the web view of `controller run --http`, listening before
// the controller starts so a taken port fails the run at once.
type webView struct {
	srv    *web.Server
	ln     net.Listener
	logger *slog.Logger
}

// prepareWeb listens on addr and hooks the login links into opts; with
// addr empty the view is off and the returned view does nothing.
func prepareWeb(addr, dataDir string, logger *slog.Logger, opts *controller.Options) (*webView, error) {
	// Links name the listener, or the first --advertise name when it
	// listens on every address (0.0.0.0 is no place to browse to).
	if addr == "" {
		return &webView{}, nil
	}
	logger = logger.With("component", "web")
	if !web.IsLoopback(addr) {
		logger.Warn("the web view listens beyond loopback; anyone who can reach it sees the login page, and a login link or session cookie sent over plain HTTP can be read on the way", "http", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w; pick a free port", addr, err)
	}
	srv, err := web.New(web.Config{BaseURL: "http://" + linkHost(ln.Addr().(*net.TCPAddr), opts.Advertise), Logger: logger,
		ScrapeTokenFile: filepath.Join(dataDir, ScrapeTokenFile)})
	if err != nil {
		ln.Close()
		return nil, err
	}
	opts.WebLogin = func(_ context.Context, op controller.Operator) (messages.WebLoginResult, error) {
		return srv.IssueLogin(op.Name, op.Role, op.PublicKey), nil
	}
	return &webView{srv: srv, ln: ln, logger: logger}, nil
}

func (v *webView) close() {
	if v.ln != nil {
		v.ln.Close()
	}
}

// serve runs the view until ctx ends.
func (v *webView) serve(ctx context.Context, c *controller.Controller) {
	if v.srv == nil {
		return
	}
	v.srv.Attach(ctx, c, c.MetricsHandler())
	v.logger.Info("web view up; run `foundry controller web-login` for a link", "listen", v.ln.Addr().String())
	go func() {
		if err := v.srv.Serve(ctx, v.ln); err != nil {
			v.logger.Error("web view stopped", "err", err)
		}
	}()
}

// linkHost is the host:port login links use.
func linkHost(a *net.TCPAddr, advertise []string) string {
	if a.IP.IsUnspecified() && len(advertise) > 0 {
		return net.JoinHostPort(advertise[0], strconv.Itoa(a.Port))
	}
	return a.String()
}
