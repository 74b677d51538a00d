package truenas

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// Access is what an API key may do.
type Access int

// Key kinds: a read-write key may create and delete datasets; a read-only
// key may only read (TrueNAS gives keys the roles of their user).
const (
	ReadWrite Access = iota
	ReadOnly
)

// Version is what /system/info reports; the suffix makes it plain in any
// output that this is not a real TrueNAS.
const Version = "TrueNAS-SCALE-24.04.2-double"

// Dataset types, as TrueNAS names them.
const (
	TypeFilesystem = "FILESYSTEM"
	TypeVolume     = "VOLUME"
)

// Server is the in-memory TrueNAS double. It is safe for concurrent use.
type Server struct {
	mu       sync.Mutex
	keys     map[string]Access
	pools    []*pool
	datasets map[string]*dataset
	shares   []nfsShare
	hostname string
	// writes counts dataset creations and deletions that succeeded, so a
	// test can tell a check that wrote from one that did not.
	writes int
}

type pool struct {
	id              int
	name            string
	size, allocated uint64
}

type dataset struct {
	name    string
	typ     string
	used    uint64
	volsize uint64 // VOLUME only
}

type nfsShare struct {
	id       int
	path     string
	comment  string
	networks []string
	hosts    []string
	ro       bool
	enabled  bool
}

// New returns a server with no keys, pools or shares.
func New() *Server {
	return &Server{keys: map[string]Access{}, datasets: map[string]*dataset{}, hostname: "truenas-double"}
}

// Sample returns a server with pool "tank" (1 TiB, 100 GiB allocated),
// datasets tank, tank/foundry and tank/media, zvol tank/vm-disk (20 GiB)
// and an NFS share of /mnt/tank/media for 10.77.0.0/24.
func Sample() *Server {
	s := New()
	s.AddPool("tank", 1<<40, 100<<30)
	s.AddDataset("tank/foundry", 1<<20)
	s.AddDataset("tank/media", 60<<30)
	s.AddZvol("tank/vm-disk", 20<<30)
	s.AddNFSShare("/mnt/tank/media", []string{"10.77.0.0/24"}, false)
	return s
}

// AddKey registers an API key.
func (s *Server) AddKey(key string, a Access) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = a
}

// AddPool adds a pool and its root dataset.
func (s *Server) AddPool(name string, size, allocated uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pools = append(s.pools, &pool{id: len(s.pools) + 1, name: name, size: size, allocated: allocated})
	s.datasets[name] = &dataset{name: name, typ: TypeFilesystem, used: allocated}
}

// AddDataset adds a filesystem dataset; its parent must exist.
func (s *Server) AddDataset(name string, used uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustParent(name)
	s.datasets[name] = &dataset{name: name, typ: TypeFilesystem, used: used}
}

// AddZvol adds a volume of size bytes (fully used, as a thick zvol is).
func (s *Server) AddZvol(name string, size uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustParent(name)
	s.datasets[name] = &dataset{name: name, typ: TypeVolume, used: size, volsize: size}
}

// AddNFSShare shares path with networks.
func (s *Server) AddNFSShare(path string, networks []string, readOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shares = append(s.shares, nfsShare{id: len(s.shares) + 1, path: path, networks: networks, ro: readOnly, enabled: true})
}

// Datasets lists every dataset's name, sorted, so a test can check that a
// throw-away dataset was cleaned up.
func (s *Server) Datasets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.datasets))
	for n := range s.datasets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Writes is how many dataset creations and deletions succeeded.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func (s *Server) mustParent(name string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 || s.datasets[name[:i]] == nil {
		panic(fmt.Sprintf("truenas double: parent of %s does not exist; add it first", name))
	}
}

// Handler serves the API, for httptest.NewTLSServer(s.Handler()).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }
