package helm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Workload is one of a release's Deployments, StatefulSets, DaemonSets or
// Jobs, and whether it is ready (a Job: complete).
type Workload struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Ready     bool   `json:"ready"`
	Message   string `json:"message,omitempty"`
}

// ID is kind/namespace/name.
func (w Workload) ID() string { return w.Kind + "/" + w.Namespace + "/" + w.Name }

// Workloads picks the kinds readiness is judged by from a manifest.
func Workloads(objs []Object) []Workload {
	var out []Workload
	for _, o := range objs {
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			out = append(out, Workload{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// NotReadyError names the workloads that were not ready when the wait
// ended, each with what it was waiting for.
type NotReadyError struct {
	Release  string
	Timeout  time.Duration
	NotReady []Workload
	Failed   bool // a Job failed: waiting longer would not help
}

func (e *NotReadyError) Error() string {
	parts := make([]string, 0, len(e.NotReady))
	for _, w := range e.NotReady {
		parts = append(parts, fmt.Sprintf("%s %s/%s (%s)", w.Kind, w.Namespace, w.Name, w.Message))
	}
	if e.Failed {
		return fmt.Sprintf("%s: %s", e.Release, strings.Join(parts, "; "))
	}
	return fmt.Sprintf("%s not ready after %s: %s", e.Release, e.Timeout, strings.Join(parts, "; "))
}

// errJobFailed stops a Job's watch: a failed Job does not recover.
var errJobFailed = errors.New("job failed")

// WaitReady watches every workload until all are ready or timeout
// passes. It uses watches (list, then watch from that resource version),
// so it reacts to each status change rather than polling.
func WaitReady(ctx context.Context, cs kubernetes.Interface, release string, ws []Workload, timeout time.Duration) ([]Workload, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	out := make([]Workload, len(ws))
	copy(out, ws)
	failed := false
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func(w *Workload) {
			defer wg.Done()
			lw, obj := listWatch(cs, *w)
			_, err := watchtools.UntilWithSync(ctx, lw, obj, nil, func(ev watch.Event) (bool, error) {
				if ev.Type == watch.Deleted {
					mu.Lock()
					w.Ready, w.Message = false, "deleted"
					mu.Unlock()
					return false, nil
				}
				ok, msg, err := Readiness(ev.Object)
				mu.Lock()
				w.Ready, w.Message = ok, msg
				if err != nil {
					failed = true
				}
				mu.Unlock()
				return ok, err
			})
			if err != nil {
				mu.Lock()
				if w.Message == "" {
					w.Message = "not found"
				}
				mu.Unlock()
			}
		}(&out[i])
	}
	wg.Wait()
	var bad []Workload
	for _, w := range out {
		if !w.Ready {
			bad = append(bad, w)
		}
	}
	if len(bad) > 0 {
		if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !failed {
			return out, fmt.Errorf("waiting for %s: %w", release, err)
		}
		return out, &NotReadyError{Release: release, Timeout: timeout, NotReady: bad, Failed: failed}
	}
	return out, nil
}

func listWatch(cs kubernetes.Interface, w Workload) (cache.ListerWatcher, runtime.Object) {
	sel := fields.OneTermEqualSelector("metadata.name", w.Name).String()
	opts := func(o metav1.ListOptions) metav1.ListOptions { o.FieldSelector = sel; return o }
	var list func(context.Context, metav1.ListOptions) (runtime.Object, error)
	var wat func(context.Context, metav1.ListOptions) (watch.Interface, error)
	var obj runtime.Object
	switch w.Kind {
	case "Deployment":
		c := cs.AppsV1().Deployments(w.Namespace)
		list = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, opts(o)) }
		wat = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return c.Watch(ctx, opts(o)) }
		obj = &appsv1.Deployment{}
	case "StatefulSet":
		c := cs.AppsV1().StatefulSets(w.Namespace)
		list = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, opts(o)) }
		wat = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return c.Watch(ctx, opts(o)) }
		obj = &appsv1.StatefulSet{}
	case "DaemonSet":
		c := cs.AppsV1().DaemonSets(w.Namespace)
		list = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, opts(o)) }
		wat = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return c.Watch(ctx, opts(o)) }
		obj = &appsv1.DaemonSet{}
	default:
		c := cs.BatchV1().Jobs(w.Namespace)
		list = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, opts(o)) }
		wat = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return c.Watch(ctx, opts(o)) }
		obj = &batchv1.Job{}
	}
	return &cache.ListWatch{ListWithContextFunc: list, WatchFuncWithContext: wat}, obj
}

// Readiness judges one workload as `kubectl rollout status` does: the
// controller has seen the latest spec, every replica runs it and is
// available, and no old replica is left. A failed Job is an error.
func Readiness(obj runtime.Object) (bool, string, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		want := replicas(o.Spec.Replicas)
		s := o.Status
		switch {
		case s.ObservedGeneration < o.Generation:
			return false, "spec change not yet observed", nil
		case s.UpdatedReplicas < want:
			return false, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want), nil
		case s.Replicas > s.UpdatedReplicas:
			return false, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas), nil
		case s.AvailableReplicas < s.UpdatedReplicas:
			return false, fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas), nil
		}
		return true, fmt.Sprintf("%d/%d available", s.AvailableReplicas, want), nil
	case *appsv1.StatefulSet:
		want := replicas(o.Spec.Replicas)
		s := o.Status
		switch {
		case s.ObservedGeneration < o.Generation:
			return false, "spec change not yet observed", nil
		case s.ReadyReplicas < want:
			return false, fmt.Sprintf("%d of %d replicas ready", s.ReadyReplicas, want), nil
		case o.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && s.UpdateRevision != s.CurrentRevision && s.UpdatedReplicas < want:
			return false, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want), nil
		}
		return true, fmt.Sprintf("%d/%d ready", s.ReadyReplicas, want), nil
	case *appsv1.DaemonSet:
		s := o.Status
		switch {
		case s.ObservedGeneration < o.Generation:
			return false, "spec change not yet observed", nil
		case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
			return false, fmt.Sprintf("%d of %d pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled), nil
		case s.NumberAvailable < s.DesiredNumberScheduled:
			return false, fmt.Sprintf("%d of %d pods available", s.NumberAvailable, s.DesiredNumberScheduled), nil
		}
		return true, fmt.Sprintf("%d/%d available", s.NumberAvailable, s.DesiredNumberScheduled), nil
	case *batchv1.Job:
		for _, c := range o.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				return true, "complete", nil
			case batchv1.JobFailed:
				return false, "failed: " + c.Message, errJobFailed
			}
		}
		return false, fmt.Sprintf("%d succeeded, %d active", o.Status.Succeeded, o.Status.Active), nil
	}
	return false, fmt.Sprintf("unexpected %T", obj), nil
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}
