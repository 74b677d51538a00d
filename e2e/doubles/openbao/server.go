package openbao

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServerVersion is what the double reports as its version unless
// SetVersion says otherwise; the suffix makes it obvious in any output that
// this is not a real server.
const ServerVersion = "2.4.1-double"

// maxBody bounds request bodies.
const maxBody = 1 << 20

// Server is the in-memory OpenBAO double. It is safe for concurrent use.
type Server struct {
	mu sync.Mutex

	initialized bool
	sealed      bool
	threshold   int
	keys        [][]byte   // unseal key shares; unknown after a restart, like the real server
	keyHashes   [][32]byte // SHA-256 of each share: all that is needed to check one, and all that is stored
	provided    [][]byte   // shares given so far in this unseal attempt
	nonce       string
	clusterID   string

	tokens map[string]*token
	mounts map[string]*kvMount

	version string
	dir     string // storage "file" path; empty keeps everything in memory

	// Raft, when enabled (see raft.go): this node's id, the leader a
	// follower joins through retry_join, and on the leader the members.
	raftNodeID string
	raftAddr   string
	raftLeader *Server
	raftPeers  []RaftServer

	now func() time.Time
}

// New returns an uninitialised, sealed server, as OpenBAO is right after
// installation: initialise it with PUT /v1/sys/init and unseal it with PUT
// /v1/sys/unseal.
func New() *Server {
	return &Server{
		sealed:    true,
		tokens:    map[string]*token{},
		mounts:    map[string]*kvMount{},
		clusterID: randomID(),
		version:   ServerVersion,
		now:       time.Now,
	}
}

// NewDev returns a server that is initialised with one key share, unsealed,
// has KV v2 at "secret/" and accepts rootToken as root, like
// `bao server -dev -dev-root-token-id=rootToken`.
func NewDev(rootToken string) *Server {
	s := New()
	s.initialized = true
	s.sealed = false
	s.threshold = 1
	s.setKeys([][]byte{randomBytes(33)})
	s.tokens[rootToken] = newToken(rootToken, "root", s.now(), Policy{Name: "root"})
	s.mounts["secret"] = newKVMount()
	return s
}

// SetVersion sets the version /sys/health and /sys/seal-status report, so
// the binary can claim the version of the artifact it was built as.
func (s *Server) SetVersion(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = v
}

// Handler serves the API, for httptest.NewServer(s.Handler()).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// ListenAndServe serves the API on addr until the process ends, for the
// standalone binary.
func (s *Server) ListenAndServe(addr string) error {
	return s.Serve(context.Background(), addr)
}

// Serve serves the API on addr until ctx is cancelled, then shuts down
// cleanly. Cancellation is not an error.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened, so the binary
// can tell systemd it is ready only once the port is open.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

// Seal seals the server, as `bao operator seal` would, so tests can check
// how clients behave against a sealed OpenBAO.
func (s *Server) Seal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealed = true
	s.provided = nil
	s.nonce = ""
}

// UnsealKeys returns the key shares base64-encoded, so a test that sealed a
// dev server can unseal it through the API. A server Open read from disk
// has none: only the shares' hashes are stored, so, as with the real
// server, whoever initialised it must keep the keys.
func (s *Server) UnsealKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.keys))
	for i, k := range s.keys {
		out[i] = base64.StdEncoding.EncodeToString(k)
	}
	return out
}

// EnableKV mounts a KV v2 engine at path (no-op if it exists).
func (s *Server) EnableKV(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mounts[path]; !ok {
		s.mounts[path] = newKVMount()
		s.mustSave()
	}
}

// AddToken registers a token with the given policies, so a test can use a
// token that may read one path but not another. Every token may also look
// itself up, as OpenBAO's default policy allows.
func (s *Server) AddToken(id string, policies ...Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = newToken(id, "token", s.now(), policies...)
	s.mustSave()
}

// RevokeToken forgets a token, so a test can check what an expired or
// revoked token does.
func (s *Server) RevokeToken(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, id)
	s.mustSave()
}

// setKeys replaces the unseal key shares and their hashes.
func (s *Server) setKeys(keys [][]byte) {
	s.keys = keys
	s.keyHashes = make([][32]byte, len(keys))
	for i, k := range keys {
		s.keyHashes[i] = sha256.Sum256(k)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return b
}

func randomID() string {
	b := randomBytes(16)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
