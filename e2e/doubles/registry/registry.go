// Package registry is a test double: a STAND-IN FOR ZOT, the stack's OCI
// registry, which cannot run on this machine. It serves
// go-containerregistry's pkg/registry, a real in-process implementation
// of the OCI distribution API (blobs, manifests, tags, HEAD by digest),
// over plain HTTP like the Zot Foundry installs (see
// controller/component.ZotConfig), with blobs in memory.
//
// It stands in for Zot only as a registry: Zot's sync, search and auth
// extensions are not here.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// StandIn is a running stand-in for Zot.
type StandIn struct {
	// Host is host:port, as Foundry's registry settings and image names
	// spell it.
	Host string
	srv  *http.Server
	done chan struct{}
}

// Start listens on addr (host:port; port 0 picks one) and serves until
// Close. Listen on the hosts' bridge address (10.77.0.1) for test hosts
// to pull from it, on 127.0.0.1 otherwise.
func Start(addr string) (*StandIn, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("registry stand-in: listen on %s: %w", addr, err)
	}
	h := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	s := &StandIn{Host: l.Addr().String(), done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("registry stand-in on %s: %v", s.Host, err)
		}
	}()
	return s, nil
}

// Close stops the server and waits for it.
func (s *StandIn) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
