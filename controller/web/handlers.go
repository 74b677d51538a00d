package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/target"
	"github.com/foundry-fleet/foundry/messages"
)

// Bounds of the history pages: the newest records up to these counts.
const (
	maxEvents     = 1000
	maxAudit      = 1000
	jobStreamPoll = 500 * time.Millisecond
)

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	serveAsset(w, "assets/index.html")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers an error as JSON the page shows as it is.
func fail(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// whereOf parses ?where= with the CLI's --where parser.
func whereOf(r *http.Request) (target.Expr, error) {
	w := r.URL.Query().Get("where")
	if w == "" {
		return nil, nil
	}
	e, err := target.Parse(w)
	if err != nil {
		return nil, fmt.Errorf("where: %w", err)
	}
	return e, nil
}

// HostsResult is /api/hosts: the fleet, narrowed, with counts per state.
type HostsResult struct {
	Counts map[string]int `json:"counts"`
	Hosts  []HostView     `json:"hosts"`
}

func (s *Server) hosts(w http.ResponseWriter, r *http.Request) {
	expr, err := whereOf(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	select {
	case <-s.hub.ready:
	case <-r.Context().Done():
		return
	}
	hs := s.hub.snapshot(r.Context(), expr)
	sort.Slice(hs, func(i, j int) bool { return hs[i].ID < hs[j].ID })
	res := HostsResult{Counts: map[string]int{}, Hosts: hs}
	for _, h := range hs {
		res.Counts[h.State]++
	}
	writeJSON(w, res)
}

// sse prepares a Server-Sent Events answer.
func sse(w http.ResponseWriter) (http.Flusher, bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return nil, false
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	return f, true
}

func writeEvent(w http.ResponseWriter, f http.Flusher, data []byte) error {
	if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
		return err
	}
	f.Flush()
	return nil
}

// stream is the live fleet and events: one snapshot, then deltas.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	expr, err := whereOf(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	sub, snap := s.hub.subscribe(r.Context(), expr)
	if sub == nil {
		return
	}
	defer s.hub.unsubscribe(sub)
	f, ok := sse(w)
	if !ok {
		return
	}
	if writeEvent(w, f, snap) != nil {
		return
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-sub.gone:
			return
		case b := <-sub.out:
			if writeEvent(w, f, b) != nil {
				return
			}
		case <-keep.C:
			if !s.stillAllowed(r) {
				return
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			f.Flush()
		}
	}
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request) {
	res, err := s.src.ListJobs(r.Context(), messages.JobListRequest{})
	if err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, res)
}

func (s *Server) job(w http.ResponseWriter, r *http.Request) {
	rec, err := s.src.ShowJob(r.Context(), messages.JobShowRequest{ID: r.PathValue("id")})
	if err != nil {
		fail(w, statusOf(err), err)
		return
	}
	writeJSON(w, rec)
}

func statusOf(err error) int {
	var me *messages.Error
	if errors.As(err, &me) {
		switch me.Code {
		case messages.CodeNotFound:
			return http.StatusNotFound
		case messages.CodeBadRequest:
			return http.StatusBadRequest
		}
	}
	return http.StatusBadGateway
}

// jobStream sends a job's record each time it changes, until it finishes.
func (s *Server) jobStream(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := s.src.ShowJob(r.Context(), messages.JobShowRequest{ID: id})
	if err != nil {
		fail(w, statusOf(err), err)
		return
	}
	f, ok := sse(w)
	if !ok {
		return
	}
	t := time.NewTicker(jobStreamPoll)
	defer t.Stop()
	var last []byte
	for {
		b, _ := json.Marshal(rec)
		if string(b) != string(last) {
			if writeEvent(w, f, b) != nil {
				return
			}
			last = b
		}
		if rec.Finished != 0 {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
		if rec, err = s.src.ShowJob(r.Context(), messages.JobShowRequest{ID: id}); err != nil {
			return
		}
	}
}

func (s *Server) stack(w http.ResponseWriter, r *http.Request) {
	comps, err := Stack(r.Context(), s.src, s.src)
	if err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, map[string]any{"components": comps})
}

// sinceOf reads ?since= as a duration (the CLI's --since).
func sinceOf(r *http.Request, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("since")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("since %q must be a positive duration, e.g. 10m", v)
	}
	return d, nil
}

// history reads a stream up to now, keeping the newest max records.
func history[T any](ctx context.Context, max int, read func(context.Context, func(T) error) error) ([]T, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out []T
	truncated := false
	err := read(ctx, func(v T) error {
		out = append(out, v)
		if len(out) > max {
			out = out[1:]
			truncated = true
		}
		return nil
	})
	return out, truncated, err
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	since, err := sinceOf(r, time.Hour)
	if err == nil {
		_, err = messages.EventFilter(r.URL.Query().Get("host"), r.URL.Query().Get("type"))
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	q := client.EventQuery{Host: r.URL.Query().Get("host"), Type: r.URL.Query().Get("type"), Since: since}
	evs, trunc, err := history(r.Context(), maxEvents, func(ctx context.Context, fn func(messages.Event) error) error {
		return s.src.Events(ctx, q, fn)
	})
	if err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, map[string]any{"events": evs, "truncated": trunc})
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	since, err := sinceOf(r, 24*time.Hour)
	if err == nil {
		_, err = messages.AuditFilter(r.URL.Query().Get("operator"))
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	q := client.AuditQuery{Operator: r.URL.Query().Get("operator"), Since: since}
	recs, trunc, err := history(r.Context(), maxAudit, func(ctx context.Context, fn func(messages.AuditRecord) error) error {
		return s.src.Audit(ctx, q, fn)
	})
	if err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, map[string]any{"records": recs, "truncated": trunc})
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	v, _ := r.Context().Value(viewerKey{}).(viewer)
	writeJSON(w, map[string]any{"operator": v.Name, "role": v.Role, "expires": v.expires.UnixMilli()})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.metricsH == nil {
		http.NotFound(w, r)
		return
	}
	s.metricsH.ServeHTTP(w, r)
}
