package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "foundry_session"

// viewer is who a session or login link is for.
type viewer struct {
	Name, Role, Key string
	expires         time.Time
}

// authStore keeps one-time login tokens and sessions in memory, keyed by
// the token's hash so the map never holds a usable secret. A controller
// restart ends every session; operators ask for a new link.
type authStore struct {
	now        func() time.Time
	loginTTL   time.Duration
	sessionTTL time.Duration
	scrape     string

	mu       sync.Mutex
	logins   map[[32]byte]viewer
	sessions map[[32]byte]viewer
}

func newAuthStore(now func() time.Time, loginTTL, sessionTTL time.Duration) *authStore {
	return &authStore{now: now, loginTTL: loginTTL, sessionTTL: sessionTTL,
		logins: map[[32]byte]viewer{}, sessions: map[[32]byte]viewer{}}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) [32]byte { return sha256.Sum256([]byte(t)) }

// issue returns a new one-time login token for v.
func (a *authStore) issue(v viewer) (string, time.Time) {
	tok := randomToken()
	now := a.now()
	v.expires = now.Add(a.loginTTL)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked(now)
	a.logins[hashToken(tok)] = v
	return tok, v.expires
}

// redeem exchanges a login token, once, for a session token.
func (a *authStore) redeem(tok string) (string, viewer, bool) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	h := hashToken(tok)
	v, ok := a.logins[h]
	delete(a.logins, h) // single use, even when it has expired
	if !ok || !now.Before(v.expires) {
		return "", viewer{}, false
	}
	sess := randomToken()
	v.expires = now.Add(a.sessionTTL)
	a.sessions[hashToken(sess)] = v
	return sess, v, true
}

// session returns the live session of token.
func (a *authStore) session(tok string) (viewer, bool) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	h := hashToken(tok)
	v, ok := a.sessions[h]
	if ok && !now.Before(v.expires) {
		delete(a.sessions, h)
		return viewer{}, false
	}
	return v, ok
}

// end forgets a session.
func (a *authStore) end(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, hashToken(tok))
}

func (a *authStore) pruneLocked(now time.Time) {
	for h, v := range a.logins {
		if !now.Before(v.expires) {
			delete(a.logins, h)
		}
	}
	for h, v := range a.sessions {
		if !now.Before(v.expires) {
			delete(a.sessions, h)
		}
	}
}

// scrapeOK checks a bearer token against the scrape token in constant
// time.
func (a *authStore) scrapeOK(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && a.scrape != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.scrape)) == 1
}

// loadScrapeToken reads the scrape token, creating it (0600) on first
// use. A file others can read is refused: the token reads /metrics.
func loadScrapeToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		tok := randomToken()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("create scrape token: %w", err)
		}
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("create scrape token: %w", err)
		}
		return tok, nil
	}
	if err != nil {
		return "", fmt.Errorf("read scrape token: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("scrape token %s is readable by others (mode %o); chmod 600 it", path, fi.Mode().Perm())
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("scrape token %s is shorter than 32 characters; delete it and a new one is made", path)
	}
	return tok, nil
}

// IssueLogin makes a one-time login link for an operator; it is the
// controller's WebLoginFunc (wrapped to take its Operator type).
func (s *Server) IssueLogin(name, role, key string) messages.WebLoginResult {
	tok, exp := s.auth.issue(viewer{Name: name, Role: role, Key: key})
	return messages.WebLoginResult{URL: strings.TrimSuffix(s.cfg.BaseURL, "/") + "/login?token=" + tok, ExpiresAt: exp.UnixMilli()}
}

type viewerKey struct{}

// requireSession refuses a request without a live session; /metrics also
// takes the scrape token. Data never goes out on a refusal, and the
// browser is sent to the login page only for the page itself.
func (s *Server) requireSession(scrape bool, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if scrape && s.auth.scrapeOK(r) {
			next(w, r)
			return
		}
		if c, err := r.Cookie(SessionCookie); err == nil {
			if v, ok := s.auth.session(c.Value); ok && s.src != nil && !s.src.OperatorActive(v.Key) {
				s.auth.end(c.Value)
				s.logger.Info("web session ended: its operator was revoked", "operator", v.Name)
			} else if ok {
				next(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
				return
			}
		}
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		http.Error(w, "not logged in: run `foundry controller web-login` and open the link it prints", http.StatusUnauthorized)
	}
}

// login redeems a login link (?token=) into a session cookie, or shows
// how to get one.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		serveAsset(w, "assets/login.html")
		return
	}
	sess, v, ok := s.auth.redeem(tok)
	if ok && s.src != nil && !s.src.OperatorActive(v.Key) {
		s.auth.end(sess)
		ok = false
	}
	if !ok {
		s.logger.Warn("web login refused: link unknown, used or expired", "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		serveAssetBody(w, "assets/login.html")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(s.cfg.SessionTTL / time.Second)})
	rec := messages.AuditRecord{Source: messages.AuditSourceAPI, Operator: v.Name, OperatorKey: v.Key, Role: v.Role,
		Action: "web.login", Outcome: messages.OutcomeSucceeded, Message: "web view session from " + r.RemoteAddr}
	if s.src != nil {
		if err := s.src.RecordAudit(r.Context(), rec); err != nil {
			s.logger.Warn("web login not audited", "operator", v.Name, "err", err)
		}
	}
	s.logger.Info("web login", "operator", v.Name, "role", v.Role, "remote", r.RemoteAddr)
	// 303 to the view: the link with its spent token leaves the address
	// bar and the history.
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func serveAsset(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	serveAssetBody(w, name)
}

func serveAssetBody(w http.ResponseWriter, name string) {
	b, err := assetsFS.ReadFile(name)
	if err != nil {
		http.Error(w, "missing asset", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b)
}

// stillAllowed says whether a long-lived answer (a stream) may go on: its
// operator has not been revoked since it started.
func (s *Server) stillAllowed(r *http.Request) bool {
	v, ok := r.Context().Value(viewerKey{}).(viewer)
	return !ok || s.src == nil || s.src.OperatorActive(v.Key)
}
