package openbao

import (
	"net/http"
	"strings"
	"time"
)

// Capabilities a Rule can grant, as in OpenBAO policies.
const (
	CapCreate = "create"
	CapRead   = "read"
	CapUpdate = "update"
	CapDelete = "delete"
	CapList   = "list"
	CapSudo   = "sudo"
	CapDeny   = "deny"
)

// Rule grants capabilities on an API path (without the /v1/ prefix, e.g.
// "secret/data/foundry/*"). A path ending in '*' is a prefix; any other is
// exact.
type Rule struct {
	Path         string
	Capabilities []string
}

// Policy is a named set of rules. The policy named "root" allows
// everything.
type Policy struct {
	Name  string
	Rules []Rule
}

type token struct {
	id          string
	accessor    string
	displayName string
	created     time.Time
	policies    []Policy
}

func newToken(id, displayName string, now time.Time, policies ...Policy) *token {
	return &token{id: id, accessor: randomID(), displayName: displayName, created: now, policies: policies}
}

func (t *token) isRoot() bool {
	for _, p := range t.policies {
		if p.Name == "root" {
			return true
		}
	}
	return false
}

func (t *token) policyNames() []string {
	if t.isRoot() {
		return []string{"root"}
	}
	names := []string{"default"}
	for _, p := range t.policies {
		names = append(names, p.Name)
	}
	return names
}

// allowed reports whether t may use capability on path: the union of all
// matching rules, with deny overriding.
func (t *token) allowed(path, capability string) bool {
	if t.isRoot() {
		return true
	}
	granted := false
	for _, p := range t.policies {
		for _, r := range p.Rules {
			if !ruleMatches(r.Path, path) {
				continue
			}
			for _, c := range r.Capabilities {
				switch c {
				case CapDeny:
					return false
				case capability:
					granted = true
				}
			}
		}
	}
	return granted
}

func ruleMatches(rule, path string) bool {
	if prefix, ok := strings.CutSuffix(rule, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return rule == path
}

// requestToken returns the caller's token from X-Vault-Token or a Bearer
// Authorization header, as OpenBAO accepts both.
func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Vault-Token"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		return strings.TrimPrefix(a, "Bearer ")
	}
	return ""
}

// lookupSelf answers GET/POST /v1/auth/token/lookup-self; the default
// policy lets every valid token do this.
func (s *Server) lookupSelf(w http.ResponseWriter, t *token) {
	path := "auth/token/create"
	if t.isRoot() {
		path = "auth/token/root"
	}
	writeSecret(w, http.StatusOK, map[string]any{
		"accessor":         t.accessor,
		"creation_time":    t.created.Unix(),
		"creation_ttl":     0,
		"display_name":     t.displayName,
		"entity_id":        "",
		"expire_time":      nil,
		"explicit_max_ttl": 0,
		"id":               t.id,
		"issue_time":       t.created.UTC().Format(time.RFC3339Nano),
		"meta":             nil,
		"num_uses":         0,
		"orphan":           true,
		"path":             path,
		"policies":         t.policyNames(),
		"renewable":        false,
		"ttl":              0,
		"type":             "service",
	})
}
