package controller

import "sync"

// rejoins tells the job steps waiting on hosts when one of them registers
// (a reconnect, or a new agent process). A step sent into a connection
// that died silently (a partition the server has not noticed yet) is
// never answered; the host's register heartbeat on its new connection is
// the moment to send it again. Every controller sees every heartbeat, so
// this works whichever member runs the job.
type rejoins struct {
	mu sync.Mutex
	w  map[string]map[chan string]struct{}
}

// watch returns a channel that receives each of hosts when it registers,
// and a function to stop watching. A host that registers several times
// while its name is still queued is queued once.
func (r *rejoins) watch(hosts []string) (<-chan string, func()) {
	ch := make(chan string, len(hosts))
	r.mu.Lock()
	if r.w == nil {
		r.w = map[string]map[chan string]struct{}{}
	}
	for _, h := range hosts {
		if r.w[h] == nil {
			r.w[h] = map[chan string]struct{}{}
		}
		r.w[h][ch] = struct{}{}
	}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, h := range hosts {
			delete(r.w[h], ch)
			if len(r.w[h]) == 0 {
				delete(r.w, h)
			}
		}
	}
}

// registered is called for every register heartbeat the registry took.
func (r *rejoins) registered(host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.w[host] {
		select {
		case ch <- host:
		default: // full: every host of the step is queued already
		}
	}
}
