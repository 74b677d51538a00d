package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/web"
	"github.com/foundry-fleet/foundry/messages"
)

// clock is a settable clock so sessions can expire without waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rig is a real controller (embedded NATS, JetStream) with the web view
// attached, served by httptest.
type rig struct {
	c     *controller.Controller
	admin *client.Client
	srv   *web.Server
	ts    *httptest.Server
	clock *clock
	dir   string
}

func startRig(t *testing.T, metrics http.Handler) *rig {
	t.Helper()
	clk := &clock{t: time.Now()}
	dir := t.TempDir()
	var srv *web.Server
	var err error
	ts := httptest.NewUnstartedServer(nil)
	srv, err = web.New(web.Config{BaseURL: "http://" + ts.Listener.Addr().String(), Now: clk.now,
		ScrapeTokenFile: filepath.Join(dir, "scrape-token"), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := ct.StartController(t, func(o *controller.Options) {
		o.WebLogin = func(_ context.Context, op controller.Operator) (messages.WebLoginResult, error) {
			return srv.IssueLogin(op.Name, op.Role, op.PublicKey), nil
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	srv.Attach(ctx, c, metrics)
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(cancel) // first: it ends the open streams ts.Close waits for
	return &rig{c: c, admin: ct.Client(t, c), srv: srv, ts: ts, clock: clk, dir: dir}
}

// noRedirect is a browser that does not follow redirects, so a test sees
// the login answer itself.
func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login asks the controller over NATS for a link as cl's operator and
// redeems it; it returns the session cookie.
func (r *rig) login(t *testing.T, cl *client.Client) *http.Cookie {
	t.Helper()
	res, err := cl.WebLogin(context.Background())
	if err != nil {
		t.Fatalf("web-login: %v", err)
	}
	resp, err := noRedirect().Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login link answered %d %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == web.SessionCookie {
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

func (r *rig) get(t *testing.T, path string, cookie *http.Cookie) *http.Response {
	t.Helper()
	return r.do(t, http.MethodGet, path, cookie)
}

func (r *rig) do(t *testing.T, method, path string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, r.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// concrete turns a route pattern into a path that reaches it.
func concrete(pattern string) string {
	p := strings.ReplaceAll(pattern, "{$}", "")
	p = strings.ReplaceAll(p, "{id}", "job-1")
	if strings.HasSuffix(p, "/") && p != "/" {
		p += "style.css"
	}
	return p
}

// dataRoutes are every route that is not public, taken from the router
// itself so a new route cannot be missed.
func dataRoutes(t *testing.T, srv *web.Server) []string {
	var out []string
	for _, rt := range srv.Routes() {
		if !rt.Public {
			out = append(out, concrete(rt.Pattern))
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d data routes found: %v", len(out), out)
	}
	return out
}

func refused(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
	case resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/login":
	default:
		t.Errorf("%s: answered %d (%q), want 401 or a redirect to /login", what, resp.StatusCode, clip(body))
	}
	if strings.Contains(string(body), "host-") || strings.Contains(string(body), "{\"") {
		t.Errorf("%s: refusal carries data: %q", what, clip(body))
	}
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func TestEveryDataRouteRefusesWithoutASession(t *testing.T) {
	r := startRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "foundry_up 1") }))
	ct.StartAgents(t, r.c, r.admin, "host", 2)
	for _, p := range dataRoutes(t, r.srv) {
		refused(t, r.get(t, p, nil), "no cookie "+p)
		refused(t, r.get(t, p, &http.Cookie{Name: web.SessionCookie, Value: "forged"}), "forged cookie "+p)
	}
	// The login page and static files are the only things served.
	for _, p := range []string{"/login", "/static/app.js", "/static/style.css"} {
		resp := r.get(t, p, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s answered %d without a session, want 200", p, resp.StatusCode)
		}
	}
}

func TestExpiredSessionIsRefused(t *testing.T) {
	r := startRig(t, nil)
	cookie := r.login(t, r.admin)
	resp := r.get(t, "/api/hosts", cookie)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: /api/hosts answered %d", resp.StatusCode)
	}
	r.clock.add(web.DefaultSessionTTL + time.Second)
	for _, p := range dataRoutes(t, r.srv) {
		refused(t, r.get(t, p, cookie), "expired session "+p)
	}
}

func TestLoginLinkIsSingleUseAndExpires(t *testing.T) {
	r := startRig(t, nil)
	res, err := r.admin.WebLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first, err := noRedirect().Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	first.Body.Close()
	var sess *http.Cookie
	for _, c := range first.Cookies() {
		if c.Name == web.SessionCookie {
			sess = c
		}
	}
	if first.StatusCode != http.StatusSeeOther || sess == nil {
		t.Fatalf("first use answered %d with cookie %v, want 303 and a session", first.StatusCode, sess)
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure {
		t.Errorf("cookie HttpOnly=%v SameSite=%v Secure=%v; want HttpOnly, Strict, not Secure over plain HTTP", sess.HttpOnly, sess.SameSite, sess.Secure)
	}
	second, err := noRedirect().Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if second.StatusCode != http.StatusUnauthorized || len(second.Cookies()) != 0 {
		t.Fatalf("second use answered %d with %d cookies, want 401 and none", second.StatusCode, len(second.Cookies()))
	}

	late, err := r.admin.WebLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.clock.add(web.DefaultLoginTTL + time.Second)
	resp, err := noRedirect().Get(late.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired link answered %d, want 401", resp.StatusCode)
	}
}

func TestReadOnlyOperatorSeesTheViewAndCanChangeNothing(t *testing.T) {
	r := startRig(t, nil)
	ct.StartAgents(t, r.c, r.admin, "host", 2)
	ro, err := ct.ClientAs(t, r.c, ct.CreateOperator(t, r.admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	cookie := r.login(t, ro)
	resp := r.get(t, "/api/whoami", cookie)
	var who struct{ Operator, Role string }
	_ = json.NewDecoder(resp.Body).Decode(&who)
	resp.Body.Close()
	if who.Operator != "viewer" || who.Role != controller.RoleReadOnly {
		t.Fatalf("whoami = %+v, want viewer/%s", who, controller.RoleReadOnly)
	}
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		resp := r.get(t, "/api/hosts", cookie)
		defer resp.Body.Close()
		var hr web.HostsResult
		if err := json.NewDecoder(resp.Body).Decode(&hr); err != nil {
			return err
		}
		if len(hr.Hosts) != 2 || hr.Counts[messages.StateOnline] != 2 {
			return fmt.Errorf("hosts %d, counts %v; want 2 online", len(hr.Hosts), hr.Counts)
		}
		return nil
	})
	// No write exists: every method but GET and HEAD is refused on every
	// route, with a session and without.
	paths := append(dataRoutes(t, r.srv), "/login", "/static/app.js")
	for _, p := range paths {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			resp := r.do(t, m, p, cookie)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s answered %d, want 405", m, p, resp.StatusCode)
			}
		}
	}
}

func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	r := startRig(t, nil)
	cookie := r.login(t, r.admin)
	check := func(what string, resp *http.Response) {
		t.Helper()
		resp.Body.Close()
		h := resp.Header
		if h.Get("Content-Security-Policy") != web.ContentSecurityPolicy || !strings.Contains(web.ContentSecurityPolicy, "default-src 'self'") {
			t.Errorf("%s: CSP %q", what, h.Get("Content-Security-Policy"))
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Frame-Options %q, X-Content-Type-Options %q", what, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
	}
	check("login page", r.get(t, "/login", nil))
	check("static", r.get(t, "/static/app.js", nil))
	check("refusal", r.get(t, "/api/hosts", nil))
	check("data", r.get(t, "/api/hosts", cookie))
	check("page", r.get(t, "/", cookie))
	check("POST", r.do(t, http.MethodPost, "/api/hosts", cookie))
}

func TestPagesHaveNoInlineScriptOrStyle(t *testing.T) {
	r := startRig(t, nil)
	cookie := r.login(t, r.admin)
	for _, p := range []string{"/", "/login"} {
		resp := r.get(t, p, cookie)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := string(b)
		if strings.Contains(s, "<script>") || strings.Contains(s, "style=") || strings.Contains(s, "<style") || strings.Contains(s, " on") && strings.Contains(s, "onclick") {
			t.Errorf("%s has inline script or style, which the CSP would block", p)
		}
	}
}

func TestLoginsAreAudited(t *testing.T) {
	r := startRig(t, nil)
	r.login(t, r.admin)
	ct.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		var issued, used bool
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := r.admin.Audit(ctx, client.AuditQuery{Since: time.Hour}, func(rec messages.AuditRecord) error {
			issued = issued || rec.Action == "controller.web-login" && rec.Outcome == messages.OutcomeSucceeded
			used = used || rec.Action == "web.login" && rec.Outcome == messages.OutcomeSucceeded && rec.Operator != ""
			return nil
		})
		if err != nil {
			return err
		}
		if !issued || !used {
			return fmt.Errorf("audit: link issued %v, link used %v", issued, used)
		}
		return nil
	})
}

func TestWebLoginWhenTheViewIsOffSaysHowToTurnItOn(t *testing.T) {
	c := ct.StartController(t)
	_, err := ct.Client(t, c).WebLogin(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--http") {
		t.Fatalf("web-login with the view off: %v, want an error naming --http", err)
	}
}

func TestMetricsTakesASessionOrTheScrapeToken(t *testing.T) {
	r := startRig(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "foundry_up 1") }))
	tokFile := filepath.Join(r.dir, "scrape-token")
	fi, err := os.Stat(tokFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("scrape token file %v mode %v, want 0600", err, fi)
	}
	tok, _ := os.ReadFile(tokFile)
	req, _ := http.NewRequest(http.MethodGet, r.ts.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "foundry_up 1") {
		t.Fatalf("scrape with token: %d %q", resp.StatusCode, b)
	}
	req.Header.Set("Authorization", "Bearer wrong")
	resp, _ = http.DefaultClient.Do(req)
	refused(t, resp, "wrong scrape token")
	cookie := r.login(t, r.admin)
	resp = r.get(t, "/metrics", cookie)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics with a session: %d", resp.StatusCode)
	}
}

func TestMetricsIsNotFoundWithoutAHandler(t *testing.T) {
	r := startRig(t, nil)
	resp := r.get(t, "/metrics", r.login(t, r.admin))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("metrics without a handler: %d, want 404", resp.StatusCode)
	}
}

// sseReader reads data lines of a Server-Sent Events answer.
func sseReader(t *testing.T, resp *http.Response) <-chan web.Message {
	ch := make(chan web.Message, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var m web.Message
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Errorf("bad stream message %q: %v", line, err)
				return
			}
			ch <- m
		}
	}()
	return ch
}

func TestStreamSendsASnapshotThenOnlyWhatChanged(t *testing.T) {
	r := startRig(t, nil)
	agents := ct.StartAgents(t, r.c, r.admin, "host", 3)
	ct.WaitOnline(t, r.admin, 3)
	cookie := r.login(t, r.admin)
	resp := r.get(t, "/api/stream", cookie)
	defer resp.Body.Close()
	if ctype := resp.Header.Get("Content-Type"); ctype != "text/event-stream" {
		t.Fatalf("stream content type %q", ctype)
	}
	msgs := sseReader(t, resp)
	deadline := time.After(15 * time.Second)
	next := func() web.Message {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("stream ended")
			}
			return m
		case <-deadline:
			t.Fatal("timed out waiting for the stream")
		}
		return web.Message{}
	}
	// The hub may have seen the agents before they were all online;
	// wait for the snapshot or deltas to say 3 online.
	state := map[string]string{}
	first := next()
	if first.Snapshot == nil {
		t.Fatalf("first message is not a snapshot: %+v", first)
	}
	for _, h := range first.Snapshot {
		state[h.ID] = h.State
	}
	online := func() int {
		n := 0
		for _, s := range state {
			if s == messages.StateOnline {
				n++
			}
		}
		return n
	}
	for online() != 3 {
		m := next()
		for _, h := range m.Upserts {
			state[h.ID] = h.State
		}
	}
	killed := agents[1].ID
	killedAt := time.Now()
	if err := agents[1].Kill(); err != nil {
		t.Logf("kill: %v", err)
	}
	for {
		m := next()
		if m.Snapshot != nil {
			t.Fatal("a second snapshot was sent instead of a delta")
		}
		for _, h := range m.Upserts {
			if h.ID != killed && h.State != state[h.ID] {
				t.Errorf("delta changed %s (%s -> %s), which nobody touched", h.ID, state[h.ID], h.State)
			}
			state[h.ID] = h.State
		}
		if len(m.Upserts) > 1 {
			t.Errorf("a delta carries %d hosts after one host changed", len(m.Upserts))
		}
		if state[killed] != messages.StateOnline {
			t.Logf("%s is %s %v after the kill", killed, state[killed], time.Since(killedAt).Round(time.Millisecond))
			break
		}
	}
}

func TestWhereFilterIsTheCLIs(t *testing.T) {
	r := startRig(t, nil)
	ct.StartAgents(t, r.c, r.admin, "host", 3)
	ct.WaitOnline(t, r.admin, 3)
	cookie := r.login(t, r.admin)
	resp := r.get(t, "/api/hosts?where="+urlQuery("id = "), cookie)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "where") {
		t.Fatalf("bad --where answered %d %q, want 400 with the parser's error", resp.StatusCode, b)
	}
	ct.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		resp := r.get(t, "/api/hosts?where="+urlQuery("id=host-2 or id=host-3"), cookie)
		defer resp.Body.Close()
		var hr web.HostsResult
		if err := json.NewDecoder(resp.Body).Decode(&hr); err != nil {
			return err
		}
		if len(hr.Hosts) != 2 || hr.Hosts[0].ID != "host-2" || hr.Hosts[1].ID != "host-3" {
			return fmt.Errorf("filtered hosts %+v, want host-2 and host-3", hr.Hosts)
		}
		return nil
	})
}

func urlQuery(s string) string { return strings.NewReplacer(" ", "%20", "=", "%3D").Replace(s) }

func TestEventsJobsAndAuditTakeTheCLIsFilters(t *testing.T) {
	r := startRig(t, nil)
	agents := ct.StartAgents(t, r.c, r.admin, "host", 2)
	ct.WaitOnline(t, r.admin, 2)
	cookie := r.login(t, r.admin)
	if err := agents[0].Kill(); err != nil {
		t.Logf("kill: %v", err)
	}
	getJSON := func(path string, v any) int {
		resp := r.get(t, path, cookie)
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(v)
		return resp.StatusCode
	}
	ct.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		var res struct{ Events []messages.Event }
		if code := getJSON("/api/events?since=1h&host=host-1", &res); code != http.StatusOK {
			return fmt.Errorf("events answered %d", code)
		}
		if len(res.Events) == 0 {
			return fmt.Errorf("no events about host-1 yet")
		}
		for _, ev := range res.Events {
			if ev.Host != "host-1" {
				return fmt.Errorf("host filter let through %+v", ev)
			}
		}
		return nil
	})
	var bad map[string]string
	if code := getJSON("/api/events?since=-1h", &bad); code != http.StatusBadRequest || bad["error"] == "" {
		t.Errorf("negative since answered %d %v, want 400 with a reason", code, bad)
	}

	job, err := r.admin.RunJob(context.Background(), messages.JobRunRequest{Verb: messages.VerbStatus, Hosts: []string{"host-2"}})
	if err != nil {
		t.Fatal(err)
	}
	ct.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		var rec messages.JobRecord
		if code := getJSON("/api/jobs/"+job.ID, &rec); code != http.StatusOK || rec.ID != job.ID {
			return fmt.Errorf("job answered %d %+v", code, rec)
		}
		if rec.State != messages.JobSucceeded {
			return fmt.Errorf("job is %s", rec.State)
		}
		var list messages.JobListResult
		if code := getJSON("/api/jobs", &list); code != http.StatusOK || len(list.Jobs) == 0 || list.Jobs[0].ID != job.ID {
			return fmt.Errorf("job list answered %d %+v", code, list)
		}
		return nil
	})
	var audit struct{ Records []messages.AuditRecord }
	if code := getJSON("/api/audit?since=1h&operator=admin", &audit); code != http.StatusOK || len(audit.Records) == 0 {
		t.Fatalf("audit answered %d with %d records", code, len(audit.Records))
	}
	for _, rec := range audit.Records {
		if rec.Operator != "admin" {
			t.Errorf("operator filter let through %+v", rec)
		}
	}
}

func TestRevokingTheOperatorEndsItsSession(t *testing.T) {
	r := startRig(t, nil)
	ro, err := ct.ClientAs(t, r.c, ct.CreateOperator(t, r.admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	cookie := r.login(t, ro)
	unused, err := ro.WebLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	resp := r.get(t, "/api/whoami", cookie)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("before revoking: %d", resp.StatusCode)
	}
	if _, err := r.admin.RevokeOperator(context.Background(), messages.OperatorRevokeRequest{Name: "viewer"}); err != nil {
		t.Fatal(err)
	}
	refused(t, r.get(t, "/api/whoami", cookie), "revoked operator's session")
	resp, err = noRedirect().Get(unused.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a revoked operator's unused link answered %d, want 401", resp.StatusCode)
	}
}

// The stack page shows the cluster components a status run reported:
// each with its version, health, where it runs, and when and by whom it
// was checked, to any operator with a session. (How they merge with the
// host services' job replies is TestStackMergesClusterAndHostParts: the
// test agents here run no services.)
func TestStackShowsReportedClusterComponents(t *testing.T) {
	r := startRig(t, nil)
	ctx := context.Background()
	checked := time.Now().Add(-2 * time.Minute).UnixMilli()
	_, err := r.admin.ReportStack(ctx, messages.StackReport{Components: []messages.ClusterComponentStatus{
		{Component: "grafana", Cluster: "prod", Release: "grafana", Namespace: "monitoring", ChartVersion: "12.11.1", AppVersion: "12.1.0",
			Status: "deployed", Healthy: true, Workloads: 1, WorkloadsReady: 1, CheckedAt: checked},
		{Component: "loki", Cluster: "prod", Release: "loki", Namespace: "monitoring", ChartVersion: "6.0.0",
			Status: "deployed", Workloads: 2, WorkloadsReady: 1, NotReady: "StatefulSet/loki", CheckedAt: checked},
		{Component: "k3s", Cluster: "prod", Status: "readyz ok", AppVersion: "v1.31.4+k3s1", Healthy: true, CheckedAt: checked,
			Nodes: []messages.ClusterNodeStatus{{Name: "node-1", Ready: true, Roles: "control-plane", Version: "v1.31.4+k3s1"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	ro, err := ct.ClientAs(t, r.c, ct.CreateOperator(t, r.admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	resp := r.get(t, "/api/stack", r.login(t, ro))
	defer resp.Body.Close()
	var res struct{ Components []web.StackComponent }
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/stack: %d %v", resp.StatusCode, err)
	}
	if len(res.Components) != 3 || res.Components[0].Name != "grafana" || res.Components[1].Name != "k3s" || res.Components[2].Name != "loki" {
		t.Fatalf("components %+v, want grafana, k3s, loki", res.Components)
	}
	g, k, l := res.Components[0], res.Components[1], res.Components[2]
	if g.Cluster == nil || !g.Healthy || g.Cluster.ChartVersion != "12.11.1" || g.Cluster.Where != "cluster prod, namespace monitoring" ||
		g.Cluster.CheckedAt != checked || g.Cluster.Operator != "admin" || len(g.Hosts) != 0 {
		t.Fatalf("grafana: %+v %+v; want healthy 12.11.1 in cluster prod, namespace monitoring, checked at %d by admin", g, g.Cluster, checked)
	}
	if l.Cluster == nil || l.Healthy || l.Cluster.NotReady != "StatefulSet/loki" || l.Cluster.CheckedAt != checked {
		t.Fatalf("loki: %+v %+v; want unhealthy with StatefulSet/loki not ready", l, l.Cluster)
	}
	if k.Cluster == nil || !k.Healthy || k.Cluster.Where != "cluster prod, nodes node-1" || len(k.Cluster.Nodes) != 1 || !k.Cluster.Nodes[0].Ready {
		t.Fatalf("k3s: %+v %+v; want the ready node", k, k.Cluster)
	}
}
