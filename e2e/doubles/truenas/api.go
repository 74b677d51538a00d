package truenas

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxBody bounds request bodies; the API's are a few hundred bytes.
const maxBody = 1 << 20

// errno values TrueNAS's middleware puts in its error bodies.
const (
	errnoENOENT = 2
	errnoEACCES = 13
	errnoEBUSY  = 16
	errnoEEXIST = 17
	errnoEINVAL = 22
)

const apiPrefix = "/api/v2.0/"

// serveHTTP routes like the middleware's REST layer: authentication
// first, then the resource.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	// EscapedPath keeps a dataset id's %2F, as aiohttp's router does.
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), apiPrefix)
	if !ok {
		writeText(w, http.StatusNotFound, "404: Not Found")
		return
	}
	rest = strings.TrimSuffix(rest, "/")

	s.mu.Lock()
	defer s.mu.Unlock()

	access, ok := s.authenticate(r)
	if !ok {
		writeText(w, http.StatusUnauthorized, "401: Unauthorized")
		return
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	route := func() (func(), bool) {
		switch {
		case rest == "system/info" && r.Method == http.MethodGet:
			return func() { writeJSON(w, http.StatusOK, s.systemInfo()) }, true
		case rest == "pool" && r.Method == http.MethodGet:
			return func() { writeJSON(w, http.StatusOK, s.poolList()) }, true
		case rest == "pool/dataset" && r.Method == http.MethodGet:
			return func() { writeJSON(w, http.StatusOK, s.datasetList()) }, true
		case rest == "pool/dataset" && r.Method == http.MethodPost:
			return func() { s.createDataset(w, r) }, true
		case strings.HasPrefix(rest, "pool/dataset/id/") && r.Method == http.MethodDelete:
			return func() { s.deleteDataset(w, r, strings.TrimPrefix(rest, "pool/dataset/id/")) }, true
		case rest == "sharing/nfs" && r.Method == http.MethodGet:
			return func() { writeJSON(w, http.StatusOK, s.nfsList()) }, true
		}
		return nil, false
	}
	h, found := route()
	if !found {
		writeText(w, http.StatusNotFound, "404: Not Found")
		return
	}
	if write && access == ReadOnly {
		writeJSON(w, http.StatusForbidden, callError("Not authorized", errnoEACCES))
		return
	}
	h()
}

// authenticate accepts "Authorization: Bearer <key>" with a known key.
func (s *Server) authenticate(r *http.Request) (Access, bool) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		return 0, false
	}
	a, ok := s.keys[key]
	return a, ok
}

func (s *Server) systemInfo() map[string]any {
	return map[string]any{
		"version":        Version,
		"hostname":       s.hostname,
		"uptime_seconds": 86400.5,
		"physmem":        int64(32) << 30,
		"cores":          8,
		"physical_cores": 4,
		"model":          "Test double CPU",
		"system_product": "TEST DOUBLE",
		"timezone":       "UTC",
		"loadavg":        []float64{0.1, 0.2, 0.3},
	}
}

func (s *Server) poolList() []map[string]any {
	out := []map[string]any{}
	for _, p := range s.pools {
		out = append(out, map[string]any{
			"id":            p.id,
			"name":          p.name,
			"guid":          strconv.Itoa(1000000 + p.id),
			"path":          "/mnt/" + p.name,
			"status":        "ONLINE",
			"healthy":       true,
			"warning":       false,
			"is_decrypted":  true,
			"size":          p.size,
			"allocated":     p.allocated,
			"free":          p.size - p.allocated,
			"freeing":       0,
			"fragmentation": "1",
			"status_detail": nil,
		})
	}
	return out
}

// datasetList is TrueNAS's default flat list: every dataset at the top
// level, each also carrying its children.
func (s *Server) datasetList() []map[string]any {
	names := make([]string, 0, len(s.datasets))
	for n := range s.datasets {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		out = append(out, s.datasetJSON(s.datasets[n], true))
	}
	return out
}

func (s *Server) datasetJSON(d *dataset, withChildren bool) map[string]any {
	poolName, _, _ := strings.Cut(d.name, "/")
	var free uint64
	for _, p := range s.pools {
		if p.name == poolName {
			free = p.size - p.allocated
		}
	}
	m := map[string]any{
		"id":              d.name,
		"name":            d.name,
		"pool":            poolName,
		"type":            d.typ,
		"encrypted":       false,
		"encryption_root": nil,
		"key_loaded":      false,
		"locked":          false,
		"used":            zfsProp(d.used),
		"available":       zfsProp(free),
		"children":        []map[string]any{},
	}
	if d.typ == TypeVolume {
		m["volsize"] = zfsProp(d.volsize)
		m["mountpoint"] = nil
	} else {
		m["mountpoint"] = "/mnt/" + d.name
	}
	if withChildren {
		var kids []map[string]any
		for _, c := range s.children(d.name) {
			kids = append(kids, s.datasetJSON(s.datasets[c], true))
		}
		if kids != nil {
			m["children"] = kids
		}
	}
	return m
}

// children are the direct children of name, sorted.
func (s *Server) children(name string) []string {
	var out []string
	for n := range s.datasets {
		if i := strings.LastIndexByte(n, '/'); i >= 0 && n[:i] == name {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// zfsProp is TrueNAS's shape for a ZFS property value.
func zfsProp(n uint64) map[string]any {
	return map[string]any{"parsed": n, "rawvalue": strconv.FormatUint(n, 10), "value": zfsHuman(n), "source": "NONE", "source_info": nil}
}

// zfsHuman renders bytes as `zfs list` does: 1.50G, 96K, 512B.
func zfsHuman(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	v, unit := float64(n), 0
	for v >= 1024 && unit < 6 {
		v /= 1024
		unit++
	}
	suffix := string("BKMGTPE"[unit])
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f%s", v, suffix)
	case v < 100:
		return fmt.Sprintf("%.1f%s", v, suffix)
	}
	return fmt.Sprintf("%.0f%s", v, suffix)
}

func (s *Server) createDataset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name    string  `json:"name"`
		Type    string  `json:"type"`
		Volsize *uint64 `json:"volsize"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, callError("Invalid JSON body: "+err.Error(), errnoEINVAL))
		return
	}
	if req.Type == "" {
		req.Type = TypeFilesystem
	}
	invalid := func(field, msg string, errno int) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"pool_dataset_create." + field: []map[string]any{{"message": msg, "errno": errno}},
		})
	}
	i := strings.LastIndexByte(req.Name, '/')
	switch {
	case req.Type != TypeFilesystem && req.Type != TypeVolume:
		invalid("type", fmt.Sprintf("Invalid choice: %s", req.Type), errnoEINVAL)
		return
	case req.Name == "" || i <= 0 || i == len(req.Name)-1:
		invalid("name", "Please specify a name in the form pool/dataset", errnoEINVAL)
		return
	case s.datasets[req.Name] != nil:
		invalid("name", fmt.Sprintf("Path %s already exists", req.Name), errnoEEXIST)
		return
	case s.datasets[req.Name[:i]] == nil:
		invalid("name", fmt.Sprintf("Parent dataset %s does not exist", req.Name[:i]), errnoENOENT)
		return
	case req.Type == TypeVolume && (req.Volsize == nil || *req.Volsize == 0):
		invalid("volsize", "This field is required for VOLUME", errnoEINVAL)
		return
	}
	d := &dataset{name: req.Name, typ: req.Type}
	if req.Volsize != nil && req.Type == TypeVolume {
		d.volsize, d.used = *req.Volsize, *req.Volsize
	}
	s.datasets[req.Name] = d
	s.writes++
	writeJSON(w, http.StatusOK, s.datasetJSON(d, true))
}

func (s *Server) deleteDataset(w http.ResponseWriter, r *http.Request, rawID string) {
	id, err := url.PathUnescape(rawID)
	if err != nil {
		writeText(w, http.StatusNotFound, "404: Not Found")
		return
	}
	var opts struct {
		Recursive bool `json:"recursive"`
	}
	if err := json.NewDecoder(r.Body).Decode(&opts); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusUnprocessableEntity, callError("Invalid JSON body: "+err.Error(), errnoEINVAL))
		return
	}
	if s.datasets[id] == nil {
		writeJSON(w, http.StatusUnprocessableEntity, callError(fmt.Sprintf("%s does not exist", id), errnoENOENT))
		return
	}
	if !strings.Contains(id, "/") {
		writeJSON(w, http.StatusUnprocessableEntity, callError("The root dataset of a pool cannot be deleted; export the pool instead", errnoEINVAL))
		return
	}
	kids := s.children(id)
	if len(kids) > 0 && !opts.Recursive {
		writeJSON(w, http.StatusUnprocessableEntity, callError(fmt.Sprintf("Failed to delete dataset: cannot destroy '%s': filesystem has children", id), errnoEBUSY))
		return
	}
	for n := range s.datasets {
		if n == id || strings.HasPrefix(n, id+"/") {
			delete(s.datasets, n)
		}
	}
	s.writes++
	writeJSON(w, http.StatusOK, true)
}

func (s *Server) nfsList() []map[string]any {
	out := []map[string]any{}
	for _, sh := range s.shares {
		out = append(out, map[string]any{
			"id":            sh.id,
			"path":          sh.path,
			"aliases":       []string{},
			"comment":       sh.comment,
			"networks":      nonNil(sh.networks),
			"hosts":         nonNil(sh.hosts),
			"ro":            sh.ro,
			"maproot_user":  nil,
			"maproot_group": nil,
			"mapall_user":   nil,
			"mapall_group":  nil,
			"security":      []string{},
			"enabled":       sh.enabled,
			"locked":        false,
		})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// callError is the middleware's body for a CallError.
func callError(msg string, errno int) map[string]any {
	return map[string]any{"message": msg, "errno": errno}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}
