package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// evictRetry is how long a drain waits before asking again to evict a pod
// whose PodDisruptionBudget refused (429): the budget frees up only when a
// replacement elsewhere turns Ready, which takes seconds.
const evictRetry = 2 * time.Second

// mirrorPodAnnotation marks a static pod's mirror: it cannot be evicted
// through the API, the kubelet owns it.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// DrainProgress is the state of a drain, reported at each change.
type DrainProgress struct {
	Node string
	// Total counts the pods the drain evicts, Gone those no longer on the
	// node.
	Total, Gone int
	// Terminating are evicted pods still on the node (namespace/name).
	Terminating []string
	// Blocked are pods whose eviction was refused, with why.
	Blocked map[string]string
}

// StuckPod is a pod still on a node when its drain ran out of time.
type StuckPod struct {
	Pod    string // namespace/name
	Reason string // why it is still there
	// PDBs are the PodDisruptionBudgets that refused its eviction
	// (namespace/name), if any.
	PDBs []string
}

// DrainTimeoutError is a drain that ran out of time; it names every pod
// still on the node and, for those a PodDisruptionBudget protects, the
// budget.
type DrainTimeoutError struct {
	Node    string
	Timeout time.Duration
	Pods    []StuckPod
	Err     error // the context's error
}

func (e *DrainTimeoutError) Error() string {
	parts := make([]string, len(e.Pods))
	blocked := false
	for i, p := range e.Pods {
		parts[i] = p.Pod + " (" + p.Reason + ")"
		blocked = blocked || len(p.PDBs) > 0
	}
	hint := "give the drain more time"
	if blocked {
		hint = "scale the workload up or relax its PodDisruptionBudget, or give the drain more time"
	}
	within := "in " + e.Timeout.String()
	if e.Timeout <= 0 {
		within = "before its deadline"
	}
	return fmt.Sprintf("drain of node %s did not finish %s: %d pod(s) still on it: %s; %s",
		e.Node, within, len(e.Pods), strings.Join(parts, ", "), hint)
}

func (e *DrainTimeoutError) Unwrap() error { return e.Err }

// Drain cordons node and evicts every pod on it through the Eviction API,
// so PodDisruptionBudgets are respected: a refused eviction (429) is asked
// again until timeout. DaemonSet pods (their controller would recreate them
// on the node) and mirror pods (the kubelet's) are left. Drain returns when
// every evicted pod is gone from the node, watched, not polled; when
// timeout passes first the error is a *DrainTimeoutError. A timeout of 0
// means only ctx bounds the drain.
func (c *Client) Drain(ctx context.Context, node string, timeout time.Duration, progress func(DrainProgress)) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := c.Cordon(ctx, node); err != nil {
		return err
	}
	d := &drain{c: c, node: node, pods: map[string]*drainPod{}, progress: progress}
	return d.run(ctx, timeout)
}

// drainPod is one pod the drain is responsible for.
type drainPod struct {
	ns, name string
	uid      types.UID
	labels   map[string]string
	evicted  bool   // the API accepted its eviction (or it was deleting already)
	gone     bool   // no longer on the node
	reason   string // why its eviction was refused
	pdbs     []string
}

type drain struct {
	c        *Client
	node     string
	pods     map[string]*drainPod // by namespace/name
	progress func(DrainProgress)
	last     string // the progress last reported, to report changes only
}

func (d *drain) run(ctx context.Context, timeout time.Duration) error {
	sel := "spec.nodeName=" + d.node
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return d.c.Kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return d.c.Kube.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, o)
		},
	}
	store, informer, w, done := watchtools.NewIndexerInformerWatcher(lw, &corev1.Pod{})
	defer func() { <-done }()
	defer w.Stop()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return d.c.apiErr("list the pods of node "+d.node, fmt.Errorf("no answer before the drain's deadline: %w", ctx.Err()))
	}

	retry := time.NewTimer(0)
	defer retry.Stop()
	events := w.ResultChan()
	for {
		evict := false
		select {
		case <-ctx.Done():
			d.observe(store)
			return d.timeoutError(ctx.Err(), timeout)
		case <-retry.C:
			evict = true
		case _, ok := <-events:
			if !ok {
				events = nil // stopped; the retry timer and ctx still run
			}
		}
		d.observe(store)
		if evict {
			if err := d.evictPending(ctx); err != nil {
				if ctx.Err() != nil {
					return d.timeoutError(ctx.Err(), timeout)
				}
				return err
			}
			d.observe(store)
			retry.Reset(evictRetry)
		}
		d.report()
		if d.finished() {
			return nil
		}
	}
}

// observe updates the drain from the informer's view of the node's pods:
// new evictable pods join, pods no longer there (or replaced by a new pod
// of the same name) are gone.
func (d *drain) observe(store cache.Store) {
	current := map[string]*corev1.Pod{}
	for _, o := range store.List() {
		p, ok := o.(*corev1.Pod)
		if !ok || !evictable(p) {
			continue
		}
		key := p.Namespace + "/" + p.Name
		current[key] = p
		if t, ok := d.pods[key]; !ok || t.uid != p.UID {
			d.pods[key] = &drainPod{ns: p.Namespace, name: p.Name, uid: p.UID, labels: p.Labels,
				evicted: p.DeletionTimestamp != nil}
		}
	}
	for key, t := range d.pods {
		p, ok := current[key]
		t.gone = !ok || p.UID != t.uid
	}
}

// evictable says whether a drain evicts p: not the mirror of a static pod
// and not a DaemonSet's (which tolerates the cordon and would come back).
func evictable(p *corev1.Pod) bool {
	if _, mirror := p.Annotations[mirrorPodAnnotation]; mirror {
		return false
	}
	if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "DaemonSet" {
		return false
	}
	return true
}

// evictPending asks the API to evict every pod not yet evicted. A refusal
// by a PodDisruptionBudget (429) is kept as the pod's reason and retried
// later; any other refusal ends the drain.
func (d *drain) evictPending(ctx context.Context) error {
	keys := d.sortedKeys()
	for _, key := range keys {
		t := d.pods[key]
		if t.gone || t.evicted {
			continue
		}
		ev := &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Namespace: t.ns, Name: t.name},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &t.uid}},
		}
		err := d.c.Kube.PolicyV1().Evictions(t.ns).Evict(ctx, ev)
		switch {
		case err == nil:
			t.evicted, t.reason, t.pdbs = true, "", nil
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Gone already, or replaced by a new pod of that name (the
			// UID precondition failed); the informer will show which.
			t.evicted = true
		case apierrors.IsTooManyRequests(err):
			t.pdbs = d.blockingPDBs(ctx, t)
			t.reason = refusal(err, t.pdbs)
		default:
			return d.c.apiErr("evict pod "+key+" from node "+d.node, err)
		}
	}
	return nil
}

// blockingPDBs names the PodDisruptionBudgets in the pod's namespace whose
// selector matches it: those are what refused its eviction.
func (d *drain) blockingPDBs(ctx context.Context, t *drainPod) []string {
	l, err := d.c.Kube.PolicyV1().PodDisruptionBudgets(t.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var names []string
	for _, pdb := range l.Items {
		// A nil selector matches nothing, an empty one every pod in the
		// namespace (policy/v1); LabelSelectorAsSelector does both.
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(t.labels)) {
			names = append(names, pdb.Namespace+"/"+pdb.Name)
		}
	}
	sort.Strings(names)
	return names
}

// refusal says why an eviction was refused, in the API's words: with
// PodDisruptionBudgets, the budget's own message ("The disruption budget
// web needs 1 healthy pods and has 1 currently").
func refusal(err error, pdbs []string) string {
	msg := err.Error()
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		if det := se.Status().Details; det != nil {
			for _, c := range det.Causes {
				if c.Message != "" {
					msg = c.Message
					break
				}
			}
		}
	}
	if len(pdbs) == 0 {
		return "eviction refused (429): " + msg
	}
	return "eviction refused by PodDisruptionBudget " + strings.Join(pdbs, ", ") + ": " + msg
}

func (d *drain) finished() bool {
	for _, t := range d.pods {
		if !t.gone {
			return false
		}
	}
	return true
}

func (d *drain) sortedKeys() []string {
	keys := make([]string, 0, len(d.pods))
	for k := range d.pods {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (d *drain) snapshot() DrainProgress {
	p := DrainProgress{Node: d.node, Total: len(d.pods), Blocked: map[string]string{}}
	for _, key := range d.sortedKeys() {
		t := d.pods[key]
		switch {
		case t.gone:
			p.Gone++
		case t.evicted:
			p.Terminating = append(p.Terminating, key)
		case t.reason != "":
			p.Blocked[key] = t.reason
		}
	}
	return p
}

func (d *drain) report() {
	if d.progress == nil {
		return
	}
	p := d.snapshot()
	sig := fmt.Sprint(p.Total, p.Gone, p.Terminating, p.Blocked)
	if sig == d.last {
		return
	}
	d.last = sig
	d.progress(p)
}

func (d *drain) timeoutError(ctxErr error, timeout time.Duration) error {
	e := &DrainTimeoutError{Node: d.node, Timeout: timeout, Err: ctxErr}
	for _, key := range d.sortedKeys() {
		t := d.pods[key]
		if t.gone {
			continue
		}
		s := StuckPod{Pod: key, PDBs: t.pdbs, Reason: t.reason}
		switch {
		case t.evicted:
			s.Reason = "evicted, still terminating"
		case s.Reason == "":
			s.Reason = "not evicted yet"
		}
		e.Pods = append(e.Pods, s)
	}
	if len(e.Pods) == 0 {
		// Everything left in the last instant: the drain did finish.
		return nil
	}
	return e
}
