package openbao

import (
	"encoding/json"
	"net/http"
)

// writeJSON writes v with the status; HEAD requests get headers only.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// writeErrors writes OpenBAO's error shape: {"errors": [...]}.
func writeErrors(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": msgs})
}

// writeSecret wraps data in the response envelope logical endpoints use.
func writeSecret(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, map[string]any{
		"request_id":     randomID(),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           nil,
	})
}

// Messages the real server uses, kept verbatim so clients that match on
// them behave the same.
const (
	msgDenied = "permission denied"
	msgSealed = "Vault is sealed"
)
