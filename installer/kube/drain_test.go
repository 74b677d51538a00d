package kube

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func TestEvictableSkipsDaemonSetAndMirrorPods(t *testing.T) {
	yes := true
	owned := func(kind string, controller bool) *corev1.Pod {
		c := controller
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: kind, Name: "x", Controller: &c}}}}
	}
	for name, tc := range map[string]struct {
		pod  *corev1.Pod
		want bool
	}{
		"bare pod":           {&corev1.Pod{}, true},
		"replicaset's":       {owned("ReplicaSet", true), true},
		"daemonset's":        {owned("DaemonSet", true), false},
		"daemonset, not ctl": {owned("DaemonSet", false), true},
		"mirror": {&corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Annotations:     map[string]string{"kubernetes.io/config.mirror": "abc"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Node", Name: "n", Controller: &yes}},
		}}, false},
	} {
		if got := evictable(tc.pod); got != tc.want {
			t.Errorf("%s: evictable = %v, want %v", name, got, tc.want)
		}
	}
}

func TestRefusalQuotesTheBudget(t *testing.T) {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: "DisruptionBudget", Message: "The disruption budget web needs 1 healthy pods and has 1 currently"}}
	got := refusal(err, []string{"default/web"})
	want := "eviction refused by PodDisruptionBudget default/web: The disruption budget web needs 1 healthy pods and has 1 currently"
	if got != want {
		t.Errorf("refusal = %q\nwant %q", got, want)
	}
	// A 429 no budget explains (API priority and fairness) says so.
	plain := apierrors.NewTooManyRequests("slow down", 1)
	if got := refusal(plain, nil); !strings.HasPrefix(got, "eviction refused (429): ") {
		t.Errorf("refusal without budget = %q", got)
	}
}

func TestTimeoutErrorsNameWhatIsLeft(t *testing.T) {
	de := &DrainTimeoutError{Node: "w1", Timeout: 30 * time.Second, Err: context.DeadlineExceeded, Pods: []StuckPod{
		{Pod: "default/web-1", Reason: "eviction refused by PodDisruptionBudget default/web: needs 1", PDBs: []string{"default/web"}},
		{Pod: "default/job-2", Reason: "evicted, still terminating"},
	}}
	msg := de.Error()
	for _, want := range []string{"node w1", "in 30s", "2 pod(s)", "default/web-1 (eviction refused by PodDisruptionBudget default/web", "default/job-2 (evicted, still terminating)", "relax its PodDisruptionBudget"} {
		if !strings.Contains(msg, want) {
			t.Errorf("drain timeout message lacks %q:\n%s", want, msg)
		}
	}
	if !strings.Contains((&DrainTimeoutError{Node: "w1", Pods: de.Pods[1:]}).Error(), "give the drain more time") {
		t.Error("without a budget the hint should only ask for more time")
	}

	nr := &NotReadyError{Ready: 1, Total: 3, Err: context.DeadlineExceeded, NotReady: map[string]string{
		"w2": "not registered", "w1": "KubeletNotReady: container runtime is down",
	}}
	want := "1 of 3 nodes Ready when the wait ended; not Ready: w1 (KubeletNotReady: container runtime is down), w2 (not registered)"
	if !strings.HasPrefix(nr.Error(), want) {
		t.Errorf("NotReadyError = %q\nwant prefix %q", nr.Error(), want)
	}
}

func TestDrainObserveTracksReplacementsAndLeftPods(t *testing.T) {
	d := &drain{node: "w1", pods: map[string]*drainPod{}}
	store := newPodStore(t, pod("a", "uid-a", false), pod("b", "uid-b", true))
	d.observe(store)
	if len(d.pods) != 2 || d.pods["default/a"].evicted || !d.pods["default/b"].evicted {
		t.Fatalf("after first look: %+v %+v", d.pods["default/a"], d.pods["default/b"])
	}
	// b left; a was replaced by a new pod of the same name (a StatefulSet's).
	store = newPodStore(t, pod("a", "uid-a2", false))
	d.pods["default/a"].evicted = true
	d.observe(store)
	if !d.pods["default/b"].gone {
		t.Error("b left the node but is not gone")
	}
	if a := d.pods["default/a"]; a.uid != "uid-a2" || a.evicted || a.gone {
		t.Errorf("a's replacement should be a new pod to evict: %+v", a)
	}
	if d.finished() {
		t.Error("finished with a's replacement still on the node")
	}
	p := d.snapshot()
	if p.Total != 2 || p.Gone != 1 || fmt.Sprint(p.Terminating) != "[]" {
		t.Errorf("snapshot %+v", p)
	}
}

func pod(name, uid string, deleting bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(uid)}}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func newPodStore(t *testing.T, pods ...*corev1.Pod) cache.Store {
	t.Helper()
	s := cache.NewStore(cache.MetaNamespaceKeyFunc)
	for _, p := range pods {
		if err := s.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
