package openbao

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// health answers /sys/health. Status codes default to 200 active, 501 not
// initialised and 503 sealed; the *code query parameters override them,
// as the official client does (it asks for 299 so it can read the body).
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	q := r.URL.Query()
	code := func(name string, def int) int {
		if v, err := strconv.Atoi(q.Get(name)); err == nil && v >= 100 && v <= 599 {
			return v
		}
		return def
	}
	status := code("activecode", http.StatusOK)
	switch {
	case !s.initialized:
		status = code("uninitcode", http.StatusNotImplemented)
	case s.sealed:
		status = code("sealedcode", http.StatusServiceUnavailable)
	}
	body := map[string]any{
		"initialized":                  s.initialized,
		"sealed":                       s.sealed,
		"standby":                      false,
		"performance_standby":          false,
		"replication_performance_mode": "disabled",
		"replication_dr_mode":          "disabled",
		"server_time_utc":              s.now().Unix(),
		"version":                      s.version,
	}
	if s.initialized {
		body["cluster_name"] = "openbao-double"
		body["cluster_id"] = s.clusterID
	}
	if r.Method == http.MethodHead {
		body = nil
	}
	writeJSON(w, status, body)
}

func (s *Server) sealStatusBody() map[string]any {
	body := map[string]any{
		"type":          "shamir",
		"initialized":   s.initialized,
		"sealed":        s.sealed,
		"t":             0,
		"n":             0,
		"progress":      len(s.provided),
		"nonce":         s.nonce,
		"version":       s.version,
		"build_date":    "2025-01-01T00:00:00Z",
		"migration":     false,
		"recovery_seal": false,
		"storage_type":  "inmem",
	}
	if s.dir != "" {
		body["storage_type"] = "file"
	}
	if s.initialized {
		body["t"] = s.threshold
		body["n"] = len(s.keyHashes)
		if !s.sealed {
			body["cluster_name"] = "openbao-double"
			body["cluster_id"] = s.clusterID
		}
	}
	return body
}

func (s *Server) sealStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	writeJSON(w, http.StatusOK, s.sealStatusBody())
}

// init answers GET (status) and PUT/POST (initialise) /sys/init.
func (s *Server) init(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"initialized": s.initialized})
		return
	case http.MethodPut, http.MethodPost:
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	if s.initialized {
		writeErrors(w, http.StatusBadRequest, "Vault is already initialized")
		return
	}
	var req struct {
		Shares    int `json:"secret_shares"`
		Threshold int `json:"secret_threshold"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	switch {
	case req.Shares < 1 || req.Shares > 255:
		writeErrors(w, http.StatusBadRequest, "secret_shares must be between 1 and 255")
		return
	case req.Threshold < 1 || req.Threshold > req.Shares:
		writeErrors(w, http.StatusBadRequest, "secret_threshold must be between 1 and secret_shares")
		return
	case req.Threshold == 1 && req.Shares > 1:
		writeErrors(w, http.StatusBadRequest, "threshold must be greater than one for multiple shares")
		return
	}
	keys := make([][]byte, req.Shares)
	hexKeys := make([]string, req.Shares)
	b64Keys := make([]string, req.Shares)
	for i := range keys {
		keys[i] = randomBytes(33)
		hexKeys[i] = hex.EncodeToString(keys[i])
		b64Keys[i] = base64.StdEncoding.EncodeToString(keys[i])
	}
	root := "s." + hex.EncodeToString(randomBytes(16))
	s.setKeys(keys)
	s.tokens[root] = newToken(root, "root", s.now(), Policy{Name: "root"})
	s.threshold = req.Threshold
	s.initialized = true
	s.sealed = true
	if !s.saved(w) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": hexKeys, "keys_base64": b64Keys, "root_token": root})
}

// unseal answers PUT/POST /sys/unseal with one key share (hex or base64)
// or reset. A repeated share is ignored, as OpenBAO does. When the
// threshold is reached the server unseals if every share is genuine, and
// otherwise fails and starts over.
func (s *Server) unseal(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	if !s.initialized && s.raftLeader != nil {
		s.joinUnseal(w, r)
		return
	}
	if !s.initialized {
		writeErrors(w, http.StatusBadRequest, "Vault is not initialized")
		return
	}
	var req struct {
		Key   string `json:"key"`
		Reset bool   `json:"reset"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if !s.sealed {
		writeJSON(w, http.StatusOK, s.sealStatusBody())
		return
	}
	if req.Reset {
		s.provided, s.nonce = nil, ""
		writeJSON(w, http.StatusOK, s.sealStatusBody())
		return
	}
	if req.Key == "" {
		writeErrors(w, http.StatusBadRequest, "'key' must be specified in request body as JSON, or 'reset' set to true")
		return
	}
	key, err := hex.DecodeString(req.Key)
	if err != nil {
		key, err = base64.StdEncoding.DecodeString(req.Key)
	}
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "'key' must be a valid hex or base64 string")
		return
	}
	for _, p := range s.provided {
		if bytes.Equal(p, key) {
			writeJSON(w, http.StatusOK, s.sealStatusBody())
			return
		}
	}
	if s.nonce == "" {
		s.nonce = randomID()
	}
	s.provided = append(s.provided, key)
	if len(s.provided) < s.threshold {
		writeJSON(w, http.StatusOK, s.sealStatusBody())
		return
	}
	genuine := true
	for _, p := range s.provided {
		genuine = genuine && s.isShare(p)
	}
	s.provided, s.nonce = nil, ""
	if !genuine {
		writeErrors(w, http.StatusBadRequest, "Error unsealing: cipher: message authentication failed")
		return
	}
	s.sealed = false
	writeJSON(w, http.StatusOK, s.sealStatusBody())
}

func (s *Server) isShare(k []byte) bool {
	h := sha256.Sum256(k)
	for _, share := range s.keyHashes {
		if share == h {
			return true
		}
	}
	return false
}

// mount answers POST /sys/mounts/<path>; only KV version 2 is supported.
func (s *Server) mount(w http.ResponseWriter, r *http.Request, path string) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	var req struct {
		Type    string            `json:"type"`
		Options map[string]string `json:"options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	isKV2 := req.Type == "kv-v2" || (req.Type == "kv" && req.Options["version"] == "2")
	if !isKV2 {
		writeErrors(w, http.StatusBadRequest, "the OpenBAO test double only supports KV version 2 mounts")
		return
	}
	if path == "" || strings.Contains(path, "/") || path == "sys" || path == "auth" {
		writeErrors(w, http.StatusBadRequest, "invalid mount path")
		return
	}
	if _, ok := s.mounts[path]; ok {
		writeErrors(w, http.StatusBadRequest, "path is already in use at "+path+"/")
		return
	}
	s.mounts[path] = newKVMount()
	if !s.saved(w) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
