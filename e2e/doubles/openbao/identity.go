package openbao

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// This file is the double's imitation of the identity side of OpenBAO:
// auth methods (userpass only), entities and their aliases, and named ACL
// policies. It follows the documented request and response shapes of
// /sys/auth, /auth/userpass, /identity/entity, /identity/entity-alias and
// /sys/policies/acl. None of it is persisted in the state file: a double
// restarted from disk has no users, entities or named policies.

type authMount struct {
	typ, accessor, description string
}

type userpassUser struct {
	password string
	policies []string
}

type entity struct {
	id, name string
	metadata map[string]string
	policies []string
	created  time.Time
	updated  time.Time
}

type entityAlias struct {
	id, name, canonicalID, accessor string
}

// identityState is kept apart from the KV and seal state so the core of
// the double stays as it was.
type identityState struct {
	auths    map[string]*authMount // by path without the trailing slash
	users    map[string]*userpassUser
	entities map[string]*entity // by id
	aliases  map[string]*entityAlias
	policies map[string]string // name -> HCL text
}

func (s *Server) ident() *identityState {
	if s.identity == nil {
		s.identity = &identityState{auths: map[string]*authMount{}, users: map[string]*userpassUser{},
			entities: map[string]*entity{}, aliases: map[string]*entityAlias{}, policies: map[string]string{}}
	}
	return s.identity
}

// routeIdentity serves the identity endpoints; it reports false for any
// other path.
func (s *Server) routeIdentity(w http.ResponseWriter, r *http.Request, tok *token, path string) bool {
	op := operation(r)
	switch {
	case path == "sys/auth" || strings.HasPrefix(path, "sys/auth/"):
	case path == "sys/policies/acl" || strings.HasPrefix(path, "sys/policies/acl/"):
	case strings.HasPrefix(path, "auth/userpass/"):
	case path == "identity/entity" || strings.HasPrefix(path, "identity/entity/"):
	case path == "identity/entity-alias" || strings.HasPrefix(path, "identity/entity-alias/"):
	default:
		return false
	}
	// Logging in needs no token, as with the real server.
	if name, ok := strings.CutPrefix(path, "auth/userpass/login/"); ok {
		s.userpassLogin(w, r, name)
		return true
	}
	if tok == nil {
		writeErrors(w, http.StatusForbidden, msgDenied)
		return true
	}
	capability := map[string]string{"read": CapRead, "list": CapList, "delete": CapDelete, "write": CapUpdate}[op]
	if capability == "" {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return true
	}
	if !tok.allowed(path, capability) && !(op == "write" && tok.allowed(path, CapCreate)) {
		writeErrors(w, http.StatusForbidden, msgDenied)
		return true
	}
	id := s.ident()
	switch {
	case path == "sys/auth" && op == "read":
		s.listAuth(w, id)
	case strings.HasPrefix(path, "sys/auth/") && op == "write":
		s.enableAuth(w, r, id, strings.TrimPrefix(path, "sys/auth/"))
	case path == "sys/policies/acl" && op == "list":
		writeKeys(w, sortedKeys(id.policies))
	case strings.HasPrefix(path, "sys/policies/acl/"):
		s.policy(w, r, id, op, strings.TrimPrefix(path, "sys/policies/acl/"))
	case path == "auth/userpass/users" && op == "list":
		if id.auths["userpass"] == nil {
			noRoute(w, path)
			return true
		}
		writeKeys(w, sortedKeys(id.users))
	case strings.HasPrefix(path, "auth/userpass/users/"):
		s.userpassUser(w, r, id, op, strings.TrimPrefix(path, "auth/userpass/users/"))
	case path == "identity/entity" && op == "write":
		s.writeEntity(w, r, id)
	case path == "identity/entity/name" && op == "list":
		var names []string
		for _, e := range id.entities {
			names = append(names, e.name)
		}
		sort.Strings(names)
		writeKeys(w, names)
	case strings.HasPrefix(path, "identity/entity/name/"):
		s.entityBy(w, op, id, id.entityByName(strings.TrimPrefix(path, "identity/entity/name/")))
	case strings.HasPrefix(path, "identity/entity/id/"):
		s.entityBy(w, op, id, id.entities[strings.TrimPrefix(path, "identity/entity/id/")])
	case path == "identity/entity-alias" && op == "write":
		s.writeAlias(w, r, id)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
	return true
}

func writeKeys(w http.ResponseWriter, keys []string) {
	if len(keys) == 0 {
		writeErrors(w, http.StatusNotFound)
		return
	}
	writeSecret(w, http.StatusOK, map[string]any{"keys": keys})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return false
	}
	return true
}

func (s *Server) listAuth(w http.ResponseWriter, id *identityState) {
	data := map[string]any{"token/": map[string]any{"type": "token", "accessor": "auth_token_double", "description": "token based credentials",
		"config": map[string]any{}, "options": nil, "local": false, "seal_wrap": false}}
	for p, m := range id.auths {
		data[p+"/"] = map[string]any{"type": m.typ, "accessor": m.accessor, "description": m.description,
			"config": map[string]any{}, "options": nil, "local": false, "seal_wrap": false}
	}
	writeSecret(w, http.StatusOK, data)
}

// enableAuth answers POST /sys/auth/<path>; only userpass is supported,
// and only at the path "userpass" (the double routes that path alone).
func (s *Server) enableAuth(w http.ResponseWriter, r *http.Request, id *identityState, path string) {
	var req struct {
		Type        string `json:"type"`
		Description string `json:"description"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Type != "userpass" || path != "userpass" {
		writeErrors(w, http.StatusBadRequest, "the OpenBAO test double only supports the userpass auth method at userpass/")
		return
	}
	if _, ok := id.auths[path]; ok {
		writeErrors(w, http.StatusBadRequest, "path is already in use at "+path+"/")
		return
	}
	id.auths[path] = &authMount{typ: req.Type, description: req.Description, accessor: "auth_userpass_" + randomID()[:8]}
	w.WriteHeader(http.StatusNoContent)
}

// stringList reads a parameter OpenBAO accepts as a list or as a
// comma-separated string.
func stringList(v any) []string {
	var out []string
	switch t := v.(type) {
	case string:
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []any:
		for _, p := range t {
			if s, ok := p.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func (s *Server) userpassUser(w http.ResponseWriter, r *http.Request, id *identityState, op, name string) {
	if id.auths["userpass"] == nil {
		noRoute(w, "auth/userpass/users/"+name)
		return
	}
	u := id.users[strings.ToLower(name)]
	switch op {
	case "read":
		if u == nil {
			writeErrors(w, http.StatusNotFound)
			return
		}
		writeSecret(w, http.StatusOK, map[string]any{"token_policies": u.policies, "policies": u.policies, "token_ttl": 0, "token_max_ttl": 0})
	case "delete":
		delete(id.users, strings.ToLower(name))
		w.WriteHeader(http.StatusNoContent)
	case "write":
		var req map[string]any
		if !decode(w, r, &req) {
			return
		}
		pw, _ := req["password"].(string)
		if u == nil && pw == "" {
			writeErrors(w, http.StatusBadRequest, "missing password")
			return
		}
		if u == nil {
			u = &userpassUser{}
			id.users[strings.ToLower(name)] = u
		}
		if pw != "" {
			u.password = pw
		}
		if p, ok := req["token_policies"]; ok {
			u.policies = stringList(p)
		} else if p, ok := req["policies"]; ok {
			u.policies = stringList(p)
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

// userpassLogin answers POST /auth/userpass/login/<name>: a token with the
// user's policies and those of the entity its alias belongs to.
func (s *Server) userpassLogin(w http.ResponseWriter, r *http.Request, name string) {
	id := s.ident()
	if id.auths["userpass"] == nil {
		noRoute(w, "auth/userpass/login/"+name)
		return
	}
	var req struct {
		Password string `json:"password"`
	}
	if !decode(w, r, &req) {
		return
	}
	u := id.users[strings.ToLower(name)]
	if u == nil || req.Password == "" || u.password != req.Password {
		writeErrors(w, http.StatusBadRequest, "invalid username or password")
		return
	}
	names := append([]string{}, u.policies...)
	entityID := ""
	for _, a := range id.aliases {
		if a.name == name && a.accessor == id.auths["userpass"].accessor {
			entityID = a.canonicalID
			if e := id.entities[a.canonicalID]; e != nil {
				names = append(names, e.policies...)
			}
		}
	}
	var pols []Policy
	for _, n := range names {
		if text, ok := id.policies[n]; ok {
			pols = append(pols, Policy{Name: n, Rules: parsePolicy(text)})
		}
	}
	tid := "s." + randomID()
	t := newToken(tid, "userpass-"+name, s.now(), pols...)
	s.tokens[tid] = t
	writeJSON(w, http.StatusOK, map[string]any{"request_id": randomID(), "data": nil, "auth": map[string]any{
		"client_token": tid, "accessor": t.accessor, "policies": t.policyNames(), "token_policies": t.policyNames(),
		"metadata": map[string]string{"username": name}, "entity_id": entityID, "lease_duration": 2764800, "renewable": true}})
}

func (s *Server) policy(w http.ResponseWriter, r *http.Request, id *identityState, op, name string) {
	switch op {
	case "read":
		text, ok := id.policies[name]
		if !ok {
			writeErrors(w, http.StatusNotFound)
			return
		}
		writeSecret(w, http.StatusOK, map[string]any{"name": name, "policy": text})
	case "delete":
		delete(id.policies, name)
		w.WriteHeader(http.StatusNoContent)
	case "write":
		var req struct {
			Policy string `json:"policy"`
		}
		if !decode(w, r, &req) {
			return
		}
		if strings.TrimSpace(req.Policy) == "" {
			writeErrors(w, http.StatusBadRequest, "'policy' parameter not supplied or empty")
			return
		}
		if name == "root" {
			writeErrors(w, http.StatusBadRequest, "cannot update \"root\" policy")
			return
		}
		if _, err := checkPolicy(req.Policy); err != nil {
			writeErrors(w, http.StatusBadRequest, "failed to parse policy: "+err.Error())
			return
		}
		id.policies[name] = req.Policy
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

var (
	policyPathRe = regexp.MustCompile(`path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}`)
	policyCapRe  = regexp.MustCompile(`"([a-z]+)"`)
)

// checkPolicy accepts the HCL subset the double understands: path blocks
// with a capabilities list and nothing else.
func checkPolicy(text string) ([]Rule, error) {
	rest := strings.TrimSpace(policyPathRe.ReplaceAllString(stripComments(text), ""))
	if rest != "" {
		return nil, fmt.Errorf("the OpenBAO test double only understands path \"...\" { capabilities = [...] } blocks; it cannot read %q", rest)
	}
	return parsePolicy(text), nil
}

func stripComments(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "#") || strings.HasPrefix(t, "//") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func parsePolicy(text string) []Rule {
	var rules []Rule
	for _, m := range policyPathRe.FindAllStringSubmatch(stripComments(text), -1) {
		r := Rule{Path: m[1]}
		for _, c := range policyCapRe.FindAllStringSubmatch(m[2], -1) {
			r.Capabilities = append(r.Capabilities, c[1])
		}
		rules = append(rules, r)
	}
	return rules
}

func (id *identityState) entityByName(name string) *entity {
	for _, e := range id.entities {
		if e.name == name {
			return e
		}
	}
	return nil
}

func (id *identityState) entityBody(e *entity) map[string]any {
	aliases := []map[string]any{}
	for _, a := range id.aliases {
		if a.canonicalID == e.id {
			aliases = append(aliases, map[string]any{"id": a.id, "name": a.name, "canonical_id": a.canonicalID,
				"mount_accessor": a.accessor, "mount_type": "userpass", "mount_path": "auth/userpass/"})
		}
	}
	return map[string]any{"id": e.id, "name": e.name, "metadata": e.metadata, "policies": e.policies, "aliases": aliases,
		"disabled": false, "creation_time": e.created.UTC().Format(time.RFC3339Nano), "last_update_time": e.updated.UTC().Format(time.RFC3339Nano)}
}

// writeEntity answers POST /identity/entity: a new name creates an entity
// and returns its id; an existing name updates it and returns 204, as
// OpenBAO does.
func (s *Server) writeEntity(w http.ResponseWriter, r *http.Request, id *identityState) {
	var req struct {
		Name     string            `json:"name"`
		Metadata map[string]string `json:"metadata"`
		Policies any               `json:"policies"`
	}
	if !decode(w, r, &req) {
		return
	}
	if e := id.entityByName(req.Name); e != nil && req.Name != "" {
		if req.Metadata != nil {
			e.metadata = req.Metadata
		}
		if req.Policies != nil {
			e.policies = stringList(req.Policies)
		}
		e.updated = s.now()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	e := &entity{id: randomID(), name: req.Name, metadata: req.Metadata, policies: stringList(req.Policies), created: s.now(), updated: s.now()}
	if e.name == "" {
		e.name = "entity_" + e.id[:8]
	}
	id.entities[e.id] = e
	writeSecret(w, http.StatusOK, map[string]any{"id": e.id, "name": e.name, "aliases": nil})
}

func (s *Server) entityBy(w http.ResponseWriter, op string, id *identityState, e *entity) {
	switch op {
	case "read":
		if e == nil {
			writeErrors(w, http.StatusNotFound)
			return
		}
		writeSecret(w, http.StatusOK, id.entityBody(e))
	case "delete":
		if e != nil {
			delete(id.entities, e.id)
			for k, a := range id.aliases {
				if a.canonicalID == e.id {
					delete(id.aliases, k)
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

// writeAlias answers POST /identity/entity-alias.
func (s *Server) writeAlias(w http.ResponseWriter, r *http.Request, id *identityState) {
	var req struct {
		Name          string `json:"name"`
		CanonicalID   string `json:"canonical_id"`
		MountAccessor string `json:"mount_accessor"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch {
	case req.Name == "":
		writeErrors(w, http.StatusBadRequest, "missing alias name")
		return
	case req.MountAccessor == "":
		writeErrors(w, http.StatusBadRequest, "missing mount_accessor")
		return
	}
	known := false
	for _, m := range id.auths {
		known = known || m.accessor == req.MountAccessor
	}
	if !known {
		writeErrors(w, http.StatusBadRequest, "invalid mount accessor \""+req.MountAccessor+"\"")
		return
	}
	if id.entities[req.CanonicalID] == nil {
		writeErrors(w, http.StatusBadRequest, "invalid entity ID")
		return
	}
	for _, a := range id.aliases {
		if a.name == req.Name && a.accessor == req.MountAccessor {
			writeErrors(w, http.StatusBadRequest, "combination of mount and alias name is already in use")
			return
		}
	}
	a := &entityAlias{id: randomID(), name: req.Name, canonicalID: req.CanonicalID, accessor: req.MountAccessor}
	id.aliases[a.id] = a
	writeSecret(w, http.StatusOK, map[string]any{"id": a.id, "canonical_id": a.canonicalID})
}
