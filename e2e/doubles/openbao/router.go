package openbao

import (
	"fmt"
	"net/http"
	"strings"
)

// serveHTTP routes a request the way OpenBAO does: the unauthenticated
// sys endpoints first, then "sealed" for everything else, then the token,
// then the policy, then the handler.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErrors(w, http.StatusNotFound)
		return
	}
	path = strings.TrimSuffix(path, "/")

	s.mu.Lock()
	defer s.mu.Unlock()

	switch path {
	case "sys/health":
		s.health(w, r)
		return
	case "sys/seal-status":
		s.sealStatus(w, r)
		return
	case "sys/init":
		s.init(w, r)
		return
	case "sys/unseal":
		s.unseal(w, r)
		return
	}

	if !s.initialized || s.sealed {
		writeErrors(w, http.StatusServiceUnavailable, msgSealed)
		return
	}
	tok, ok := s.tokens[requestToken(r)]
	if !ok {
		writeErrors(w, http.StatusForbidden, msgDenied)
		return
	}

	if path == "auth/token/lookup-self" {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
			return
		}
		s.lookupSelf(w, tok)
		return
	}
	if path == "sys/storage/raft/configuration" {
		if !tok.allowed(path, CapRead) {
			writeErrors(w, http.StatusForbidden, msgDenied)
			return
		}
		s.raftConfiguration(w, r)
		return
	}
	if strings.HasPrefix(path, "sys/mounts/") {
		if !tok.allowed(path, CapSudo) || !tok.allowed(path, CapCreate) && !tok.allowed(path, CapUpdate) {
			writeErrors(w, http.StatusForbidden, msgDenied)
			return
		}
		s.mount(w, r, strings.TrimPrefix(path, "sys/mounts/"))
		return
	}
	s.kv(w, r, tok, path)
}

// operation maps the HTTP method (and ?list=true) to OpenBAO's logical
// operation.
func operation(r *http.Request) string {
	switch r.Method {
	case "LIST":
		return "list"
	case http.MethodGet, http.MethodHead:
		if r.URL.Query().Get("list") == "true" {
			return "list"
		}
		return "read"
	case http.MethodPost, http.MethodPut:
		return "write"
	case http.MethodDelete:
		return "delete"
	}
	return ""
}

func noRoute(w http.ResponseWriter, path string) {
	writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
}
