package controller

import (
	"strconv"
	"sync"
	"time"
)

// violationLog decides which permission-violation lines the server's log
// may carry. A stolen credential trying forbidden subjects in a loop made
// the controller's log grow at 45 MB/s, one line per attempt; now each
// connection gets a few lines a window, and the rest are counted and
// summed up in one line per connection when the window closes. The audit
// trail has its own per-identity limit (auditor.note).
type violationLog struct {
	window  time.Duration
	perKey  int // lines logged per connection and window
	maxKeys int // connections tracked per window; the rest share one key

	mu         sync.Mutex
	start      time.Time
	logged     map[string]int
	suppressed map[string]int
}

const (
	violationWindow  = 10 * time.Second
	violationsPerKey = 5
	violationKeys    = 1024
	violationOther   = "other"
)

func newViolationLog() *violationLog {
	return &violationLog{window: violationWindow, perKey: violationsPerKey, maxKeys: violationKeys,
		logged: map[string]int{}, suppressed: map[string]int{}}
}

// violationKey is the connection a violation line is about, from its
// client id.
func violationKey(line string) string {
	if cid, _, _, ok := parseViolation(line); ok {
		return "cid:" + strconv.FormatUint(cid, 10)
	}
	return violationOther
}

// allow reports whether the line about key may be logged at now, and
// returns the counts suppressed in a window that closed (nil if none).
func (v *violationLog) allow(key string, now time.Time) (bool, map[string]int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	closed := v.rollLocked(now)
	if _, ok := v.logged[key]; !ok && len(v.logged) >= v.maxKeys {
		key = violationOther
	}
	if v.logged[key] < v.perKey {
		v.logged[key]++
		return true, closed
	}
	v.suppressed[key]++
	return false, closed
}

// flush returns what was suppressed in a window that has closed by now,
// so a burst that stopped is still summed up.
func (v *violationLog) flush(now time.Time) map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.rollLocked(now)
}

func (v *violationLog) rollLocked(now time.Time) map[string]int {
	if now.Sub(v.start) < v.window {
		return nil
	}
	v.start = now
	var closed map[string]int
	if len(v.suppressed) > 0 {
		closed = v.suppressed
		v.suppressed = map[string]int{}
	}
	clear(v.logged)
	return closed
}
