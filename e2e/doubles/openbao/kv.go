package openbao

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

type kvVersion struct {
	data    map[string]any
	created time.Time
}

type kvEntry struct {
	versions []kvVersion // version N is versions[N-1]
	created  time.Time
	updated  time.Time
}

type kvMount struct {
	entries map[string]*kvEntry
}

func newKVMount() *kvMount { return &kvMount{entries: map[string]*kvEntry{}} }

// kv routes <mount>/data/<path> and <mount>/metadata/<path>.
func (s *Server) kv(w http.ResponseWriter, r *http.Request, tok *token, apiPath string) {
	mountName, rest, _ := strings.Cut(apiPath, "/")
	kind, secretPath, _ := strings.Cut(rest, "/")
	op := operation(r)
	capability := map[string]string{"read": CapRead, "list": CapList, "delete": CapDelete}[op]
	if op == "write" {
		capability = CapUpdate
		if m, ok := s.mounts[mountName]; ok && kind == "data" && m.entries[secretPath] == nil {
			capability = CapCreate
		}
	}
	if capability == "" {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	if !tok.allowed(apiPath, capability) {
		writeErrors(w, http.StatusForbidden, msgDenied)
		return
	}
	m, ok := s.mounts[mountName]
	if !ok {
		noRoute(w, apiPath)
		return
	}
	switch {
	case kind == "data" && op == "read" && secretPath != "":
		s.kvRead(w, r, m, secretPath)
	case kind == "data" && op == "write" && secretPath != "":
		s.kvWrite(w, r, m, secretPath)
	case kind == "metadata" && op == "list":
		s.kvList(w, m, secretPath)
	case kind == "metadata" && op == "read" && secretPath != "":
		s.kvMetadata(w, m, secretPath)
	case kind == "metadata" && op == "delete" && secretPath != "":
		delete(m.entries, secretPath)
		if !s.saved(w) {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

func versionMeta(v kvVersion, n int) map[string]any {
	return map[string]any{
		"created_time":    v.created.UTC().Format(time.RFC3339Nano),
		"custom_metadata": nil,
		"deletion_time":   "",
		"destroyed":       false,
		"version":         n,
	}
}

func (s *Server) kvRead(w http.ResponseWriter, r *http.Request, m *kvMount, path string) {
	e := m.entries[path]
	if e == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	n := len(e.versions)
	if v := r.URL.Query().Get("version"); v != "" && v != "0" {
		want, err := strconv.Atoi(v)
		if err != nil || want < 1 || want > n {
			writeErrors(w, http.StatusNotFound)
			return
		}
		n = want
	}
	ver := e.versions[n-1]
	writeSecret(w, http.StatusOK, map[string]any{"data": ver.data, "metadata": versionMeta(ver, n)})
}

func (s *Server) kvWrite(w http.ResponseWriter, r *http.Request, m *kvMount, path string) {
	var req struct {
		Data    map[string]any `json:"data"`
		Options struct {
			CAS *int `json:"cas"`
		} `json:"options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if req.Data == nil {
		writeErrors(w, http.StatusBadRequest, "no data provided")
		return
	}
	e := m.entries[path]
	current := 0
	if e != nil {
		current = len(e.versions)
	}
	if req.Options.CAS != nil && *req.Options.CAS != current {
		writeErrors(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
		return
	}
	now := s.now()
	if e == nil {
		e = &kvEntry{created: now}
		m.entries[path] = e
	}
	ver := kvVersion{data: req.Data, created: now}
	e.versions = append(e.versions, ver)
	e.updated = now
	if !s.saved(w) {
		return
	}
	writeSecret(w, http.StatusOK, versionMeta(ver, len(e.versions)))
}

// kvList returns the names directly under path; folders end in "/".
func (s *Server) kvList(w http.ResponseWriter, m *kvMount, path string) {
	prefix := ""
	if path != "" {
		prefix = path + "/"
	}
	seen := map[string]bool{}
	for p := range m.entries {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	if len(seen) == 0 {
		writeErrors(w, http.StatusNotFound)
		return
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	writeSecret(w, http.StatusOK, map[string]any{"keys": keys})
}

func (s *Server) kvMetadata(w http.ResponseWriter, m *kvMount, path string) {
	e := m.entries[path]
	if e == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	versions := map[string]any{}
	for i, v := range e.versions {
		meta := versionMeta(v, i+1)
		delete(meta, "version")
		delete(meta, "custom_metadata")
		versions[strconv.Itoa(i+1)] = meta
	}
	writeSecret(w, http.StatusOK, map[string]any{
		"cas_required":         false,
		"created_time":         e.created.UTC().Format(time.RFC3339Nano),
		"current_version":      len(e.versions),
		"custom_metadata":      nil,
		"delete_version_after": "0s",
		"max_versions":         0,
		"oldest_version":       0,
		"updated_time":         e.updated.UTC().Format(time.RFC3339Nano),
		"versions":             versions,
	})
}
