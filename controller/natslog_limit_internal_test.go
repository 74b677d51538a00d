package controller

import (
	"testing"
	"time"
)

// Past its few lines a window, a connection's violations are counted and
// summed up once the window closes, and the number of connections
// tracked is bounded.
func TestViolationLogLimitsAndSumsUp(t *testing.T) {
	v := &violationLog{window: time.Second, perKey: 2, maxKeys: 2, logged: map[string]int{}, suppressed: map[string]int{}}
	t0 := time.Unix(1_800_000_000, 0)
	logged := 0
	for range 10 {
		if ok, _ := v.allow("cid:1", t0); ok {
			logged++
		}
	}
	_, _ = v.allow("cid:2", t0)
	_, _ = v.allow("cid:3", t0) // beyond maxKeys: shares "other"
	if logged != 2 {
		t.Fatalf("logged %d lines, want 2", logged)
	}
	if got := v.flush(t0.Add(500 * time.Millisecond)); got != nil {
		t.Fatalf("summary before the window closed: %v", got)
	}
	got := v.flush(t0.Add(time.Second))
	if got["cid:1"] != 8 || len(got) != 1 {
		t.Fatalf("summary %v, want cid:1 with 8", got)
	}
	if ok, _ := v.allow("cid:1", t0.Add(time.Second)); !ok {
		t.Fatal("a new window did not allow the connection's line")
	}
	if violationKey(`127.0.0.1:5 - cid:42 - "v1.45:go" - "agent:web-1" - Publish Violation - Subject "x"`) != "cid:42" {
		t.Fatal("violation key not read from the line")
	}
}
