package agent

import (
	"math/rand/v2"
	"time"
)

// Reconnect backoff: grows quadratically with the attempt number up to a
// cap, then 0.5-1.5x jitter, so a controller restart does not see every
// agent reconnect in the same instant.
const (
	backoffBase = 250 * time.Millisecond
	backoffCap  = 30 * time.Second
)

// reconnectDelay is the wait before reconnect attempt n (1-based).
func reconnectDelay(n int, jitter float64) time.Duration {
	if n < 1 {
		n = 1
	}
	d := backoffBase * time.Duration(n*n)
	if d > backoffCap || d <= 0 {
		d = backoffCap
	}
	return time.Duration(float64(d) * (0.5 + jitter))
}

// jittered spreads a periodic interval by ±10%.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

func randJitter() float64 { return rand.Float64() }
