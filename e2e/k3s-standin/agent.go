package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// runAgent registers this host's Node with the server and runs kwok for
// it; the agent talks to the server URL directly (k3s would run a local
// load-balancer over all servers; the stand-in does not).
func runAgent(ctx context.Context, log *slog.Logger, c *Config, reg *Registries) error {
	l := layout{dir: c.DataDir}
	tok, err := parseToken(c.Token)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	var caPEM []byte
	err = retry(ctx, 5*time.Minute, func() error {
		ca, err := fetchServerCA(ctx, c.Server, tok)
		if err != nil {
			log.Info("waiting for server", "server", c.Server, "err", err)
			return err
		}
		caPEM = ca
		return fetchBootstrap(ctx, c.Server, ca, tok, l)
	})
	if err != nil {
		return err
	}
	client, err := loadCA(l, "client-ca")
	if err != nil {
		return err
	}
	if err := writeNodeCert(l, client, c.NodeName); err != nil {
		return err
	}
	kc := l.agent("node.kubeconfig")
	if err := writeKubeconfig(kc, c.Server, caPEM, l.agent("client-node"), 0o600); err != nil {
		return err
	}

	var healthy atomic.Bool
	stopHealth, err := serveHealthz(log, c.HealthzAddress, &healthy)
	if err != nil {
		return err
	}
	defer stopHealth()

	sup := newSupervisor()
	defer sup.stopAll(10 * time.Second)
	node, err := nodeObject(c, reg, false)
	if err != nil {
		return err
	}
	cs, err := clientFor(kc)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = registerNode(rctx, log, cs, node)
	cancel()
	if err != nil {
		return err
	}
	if err := startKwok(log, l, sup, c, kc); err != nil {
		return err
	}
	healthy.Store(true)
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("sd_notify", "err", err)
	}
	log.Info("k3s stand-in agent ready", "node", c.NodeName, "server", c.Server)
	return waitForEnd(ctx, log, sup, nil)
}

// serveHealthz answers kubelet's http://127.0.0.1:10248/healthz: 200 once
// the Node exists and kwok runs, 503 before.
func serveHealthz(log *slog.Logger, addr string, healthy *atomic.Bool) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("healthz listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("healthz", "err", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}
