package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// NotReadyError is a wait for nodes that ran out of time; it names each
// node that was not Ready and why.
type NotReadyError struct {
	Ready, Total int
	// NotReady maps node name to why: its Ready condition's reason and
	// message, or "not registered".
	NotReady map[string]string
	Err      error // the context's error
}

func (e *NotReadyError) Error() string {
	names := make([]string, 0, len(e.NotReady))
	for n := range e.NotReady {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " (" + e.NotReady[n] + ")"
	}
	return fmt.Sprintf("%d of %d nodes Ready when the wait ended; not Ready: %s; check k3s on those hosts (foundry cluster status)",
		e.Ready, e.Total, strings.Join(parts, ", "))
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// WaitNodesReady waits until every named node is registered and Ready,
// watching the API (an informer) rather than polling, so it returns as soon
// as the last one turns Ready. progress, if not nil, is called with each
// change in which nodes are Ready. When ctx ends first the error is a
// *NotReadyError.
func (c *Client) WaitNodesReady(ctx context.Context, names []string, progress func(ready, total int, notReady []string)) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	if len(want) == 0 {
		return nil
	}
	// One plain list first: an unreachable API or a refused credential is
	// an error at once, not a silent informer retrying until the deadline.
	if _, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return c.apiErr("list nodes", err)
	}

	w := &readyWait{want: want, progress: progress}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().Nodes().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Kube.CoreV1().Nodes().Watch(ctx, o)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Node{}, w.precondition, w.condition)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		return c.apiErr("watch nodes", err)
	}
	return w.timeout(ctx.Err(), c.Server())
}

// readyWait is the state of one WaitNodesReady: the informer's store, and
// what was last reported.
type readyWait struct {
	want     map[string]bool
	progress func(ready, total int, notReady []string)

	mu    sync.Mutex
	store cache.Store // nil until the informer synced
	last  string      // the progress last reported
}

func (w *readyWait) precondition(s cache.Store) (bool, error) {
	w.mu.Lock()
	w.store = s
	w.mu.Unlock()
	return w.check(), nil
}

func (w *readyWait) condition(watch.Event) (bool, error) { return w.check(), nil }

// check reads every wanted node from the informer's store (so it sees the
// whole state, not one event) and reports progress when it changed.
func (w *readyWait) check() bool {
	ready, notReady := w.state()
	names := make([]string, 0, len(notReady))
	for n := range notReady {
		names = append(names, n)
	}
	sort.Strings(names)
	sig := fmt.Sprint(ready, names)
	w.mu.Lock()
	changed := sig != w.last
	w.last = sig
	w.mu.Unlock()
	if changed && w.progress != nil {
		w.progress(ready, len(w.want), names)
	}
	return len(notReady) == 0
}

// state returns how many wanted nodes are Ready and why each other is not.
func (w *readyWait) state() (int, map[string]string) {
	w.mu.Lock()
	store := w.store
	w.mu.Unlock()
	notReady := map[string]string{}
	ready := 0
	for name := range w.want {
		if store == nil {
			notReady[name] = "the API's node list was not read"
			continue
		}
		obj, ok, _ := store.GetByKey(name)
		n, isNode := obj.(*corev1.Node)
		if !ok || !isNode {
			notReady[name] = "not registered"
			continue
		}
		if r, reason, msg := nodeReady(n); r {
			ready++
		} else {
			notReady[name] = why(reason, msg)
		}
	}
	return ready, notReady
}

func (w *readyWait) timeout(ctxErr error, server string) error {
	ready, notReady := w.state()
	w.mu.Lock()
	synced := w.store != nil
	w.mu.Unlock()
	e := &NotReadyError{Ready: ready, Total: len(w.want), NotReady: notReady, Err: ctxErr}
	if !synced {
		return fmt.Errorf("the API at %s did not list nodes before the wait ended: %w", server, errors.Join(ctxErr, e))
	}
	return e
}

func why(reason, msg string) string {
	switch {
	case reason != "" && msg != "":
		return reason + ": " + msg
	case msg != "":
		return msg
	case reason != "":
		return reason
	}
	return "Ready is not True"
}
