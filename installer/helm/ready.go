package helm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
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
			err := watchUntilReady(ctx, cs, *w, func(ok bool, msg string, err error) {
				mu.Lock()
				defer mu.Unlock()
				w.Ready, w.Message = ok, msg
				if err != nil {
					failed = true
				}
			})
			if err != nil {
				mu.Lock()
				if w.Message == "" {
					w.Message = err.Error()
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

// watchUntilReady reads the workload, then watches it from that
// resource version, judging each version it sees, until it is ready, a
// Job failed, or ctx ends. A watch the server closes (they time out) is
// reopened from the last version seen; a version too old to resume from
// starts over with a fresh read.
func watchUntilReady(ctx context.Context, cs kubernetes.Interface, w Workload, report func(bool, string, error)) error {
	sel := fields.OneTermEqualSelector("metadata.name", w.Name).String()
	rv := ""
	for {
		if rv == "" {
			obj, list, err := listWorkload(ctx, cs, w, sel)
			if err != nil {
				return err
			}
			if obj == nil {
				report(false, "not found", nil)
			} else {
				ok, msg, jobErr := Readiness(obj)
				report(ok, msg, jobErr)
				if ok || jobErr != nil {
					return jobErr
				}
			}
			rv = list
		}
		wi, err := watchWorkload(ctx, cs, w, metav1.ListOptions{FieldSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
				continue
			}
			return err
		}
		done, next, err := consume(ctx, wi, report)
		wi.Stop()
		if done || err != nil {
			return err
		}
		rv = next
	}
}

// consume judges each event until ready (done), the watch closes (not
// done, resume from next), or ctx ends.
func consume(ctx context.Context, wi watch.Interface, report func(bool, string, error)) (done bool, next string, err error) {
	for {
		select {
		case <-ctx.Done():
			return false, "", ctx.Err()
		case ev, open := <-wi.ResultChan():
			if !open {
				return false, next, nil
			}
			switch ev.Type {
			case watch.Error:
				return false, "", nil // e.g. 410 Gone: start over from a fresh read
			case watch.Deleted:
				report(false, "deleted", nil)
				next = resourceVersion(ev.Object)
				continue
			case watch.Bookmark:
				next = resourceVersion(ev.Object)
				continue
			}
			next = resourceVersion(ev.Object)
			ok, msg, jobErr := Readiness(ev.Object)
			report(ok, msg, jobErr)
			if ok || jobErr != nil {
				return true, next, jobErr
			}
		}
	}
}

func resourceVersion(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetResourceVersion()
	}
	return ""
}

// listWorkload reads the workload through a list, whose resource
// version is where the watch starts: nothing between the read and the
// watch is missed.
func listWorkload(ctx context.Context, cs kubernetes.Interface, w Workload, sel string) (runtime.Object, string, error) {
	o := metav1.ListOptions{FieldSelector: sel}
	switch w.Kind {
	case "Deployment":
		l, err := cs.AppsV1().Deployments(w.Namespace).List(ctx, o)
		if err != nil || len(l.Items) == 0 {
			return nil, rvOf(l), err
		}
		return &l.Items[0], l.ResourceVersion, nil
	case "StatefulSet":
		l, err := cs.AppsV1().StatefulSets(w.Namespace).List(ctx, o)
		if err != nil || len(l.Items) == 0 {
			return nil, rvOf(l), err
		}
		return &l.Items[0], l.ResourceVersion, nil
	case "DaemonSet":
		l, err := cs.AppsV1().DaemonSets(w.Namespace).List(ctx, o)
		if err != nil || len(l.Items) == 0 {
			return nil, rvOf(l), err
		}
		return &l.Items[0], l.ResourceVersion, nil
	}
	l, err := cs.BatchV1().Jobs(w.Namespace).List(ctx, o)
	if err != nil || len(l.Items) == 0 {
		return nil, rvOf(l), err
	}
	return &l.Items[0], l.ResourceVersion, nil
}

func rvOf(l metav1.ListInterface) string {
	if l == nil || reflect.ValueOf(l).IsNil() {
		return ""
	}
	return l.GetResourceVersion()
}

func watchWorkload(ctx context.Context, cs kubernetes.Interface, w Workload, o metav1.ListOptions) (watch.Interface, error) {
	switch w.Kind {
	case "Deployment":
		return cs.AppsV1().Deployments(w.Namespace).Watch(ctx, o)
	case "StatefulSet":
		return cs.AppsV1().StatefulSets(w.Namespace).Watch(ctx, o)
	case "DaemonSet":
		return cs.AppsV1().DaemonSets(w.Namespace).Watch(ctx, o)
	}
	return cs.BatchV1().Jobs(w.Namespace).Watch(ctx, o)
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
