package helm_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/installer/helm/chartstest"
)

func TestSameComparesChartVersionAndValuesAsStored(t *testing.T) {
	ch := &chart.Chart{Metadata: &chart.Metadata{Name: "grafana", Version: "12.11.1"}}
	// Helm stores values as JSON, so numbers come back as float64.
	rel := &release.Release{Chart: ch, Config: map[string]any{"replicas": float64(2), "list": []any{"a"}}}
	if !helm.Same(rel, ch, helm.Values{"replicas": 2, "list": []any{"a"}}) {
		t.Error("equal values after a JSON round trip are not Same")
	}
	if helm.Same(rel, ch, helm.Values{"replicas": 3, "list": []any{"a"}}) {
		t.Error("changed value is Same")
	}
	newer := &chart.Chart{Metadata: &chart.Metadata{Name: "grafana", Version: "12.12.0"}}
	if helm.Same(rel, newer, helm.Values{"replicas": 2, "list": []any{"a"}}) {
		t.Error("another chart version is Same")
	}
	empty := &release.Release{Chart: ch}
	if !helm.Same(empty, ch, helm.Values{}) || !helm.Same(empty, ch, nil) {
		t.Error("no values and empty values differ")
	}
}

func ptr32(i int32) *int32 { return &i }

func TestReadiness(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "x", Generation: 2}
	for _, tc := range []struct {
		name  string
		obj   runtime.Object
		ready bool
		msg   string
	}{
		{"deployment not observed", &appsv1.Deployment{ObjectMeta: meta, Status: appsv1.DeploymentStatus{ObservedGeneration: 1}}, false, "not yet observed"},
		{"deployment old replica left", &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr32(1)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1}}, false, "old replicas"},
		{"deployment new replica pending", &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr32(2)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2}}, false, "1 of 2 replicas updated"},
		{"deployment ready", &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr32(2)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}}, true, "2/2"},
		{"statefulset not ready", &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr32(3)},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2}}, false, "2 of 3"},
		{"daemonset ready", &appsv1.DaemonSet{ObjectMeta: meta,
			Status: appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1}}, true, "1/1"},
		{"job running", &batchv1.Job{Status: batchv1.JobStatus{Active: 1}}, false, "1 active"},
		{"job complete", &batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}, true, "complete"},
	} {
		ok, msg, err := helm.Readiness(tc.obj)
		if ok != tc.ready || !strings.Contains(msg, tc.msg) || err != nil {
			t.Errorf("%s: %v %q %v, want %v %q", tc.name, ok, msg, err, tc.ready, tc.msg)
		}
	}
	failed := &batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Message: "BackoffLimitExceeded"}}}}
	if ok, msg, err := helm.Readiness(failed); ok || err == nil || !strings.Contains(msg, "BackoffLimitExceeded") {
		t.Errorf("failed job: %v %q %v", ok, msg, err)
	}
}

const manifestA = `---
# Source: x/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: grafana
data:
  admin-password: b2xkLXBhc3N3b3Jk
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: grafana
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: grafana
        image: docker.io/grafana/grafana:13.2.0
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: gone
`

const manifestB = `---
apiVersion: v1
kind: Secret
metadata:
  name: grafana
data:
  admin-password: bmV3LXBhc3N3b3Jk
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: grafana
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: grafana
        image: docker.io/grafana/grafana:13.2.0
---
apiVersion: v1
kind: Service
metadata:
  name: grafana
  namespace: other
`

func TestDiffManifestsMasksSecretsAndShowsChanges(t *testing.T) {
	d, err := helm.DiffManifests(manifestA, manifestB, "monitoring")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"~~~ Deployment/monitoring/grafana", "-   replicas: 1", "+   replicas: 2",
		"--- ConfigMap/monitoring/gone (removed)", "+++ Service/other/grafana (new)"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "Secret/") || strings.Contains(d, "bmV3") || strings.Contains(d, "b2xk") {
		t.Errorf("diff shows the Secret (whose values are masked on both sides, so equal):\n%s", d)
	}
	if d, _ := helm.DiffManifests(manifestA, manifestA, "monitoring"); d != "" {
		t.Errorf("diff of equal manifests: %q", d)
	}
	objs, _ := helm.Objects(manifestB, "monitoring")
	if ws := helm.Workloads(objs); len(ws) != 1 || ws[0].ID() != "Deployment/monitoring/grafana" {
		t.Errorf("workloads: %+v", ws)
	}
	if imgs := helm.Images(objs); len(imgs) != 1 || imgs[0] != "docker.io/grafana/grafana:13.2.0" {
		t.Errorf("images: %v", imgs)
	}
}

func TestNewGetterRejectsABadKubeconfig(t *testing.T) {
	if _, err := helm.NewGetter([]byte("not: [a kubeconfig"), ""); err == nil {
		t.Error("want an error")
	}
}

// TestAFailedInstallIsOneLineNamingTheFix: Helm's multi-error ("1 error
// occurred:\n\t* timed out …") reached stack install's output as three
// lines saying "installed contour:".
func TestAFailedInstallIsOneLineNamingTheFix(t *testing.T) {
	err := &helm.OpError{Op: "install", Release: "contour", Namespace: "projectcontour",
		Err: errors.New("failed pre-install: 1 error occurred:\n\t* timed out waiting for the condition\n\n")}
	got := err.Error()
	want := "install of contour failed: failed pre-install: 1 error occurred: timed out waiting for the condition; see foundry component status contour and the events in namespace projectcontour, fix the cause and run the install again"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// TestWorkloadsOfSkipsOnlyWhatCannotBeAWorkload: the fast path that skips
// parsing CRDs finds the same workloads as parsing everything.
func TestWorkloadsOfSkipsOnlyWhatCannotBeAWorkload(t *testing.T) {
	dir := filepath.Join(chartstest.Dir(t), "rendered")
	for _, f := range []string{"contour-21.1.4.default.yaml", "argo-cd-10.1.1.default.yaml", "cert-manager-v1.21.1.crds.yaml", "prometheus-29.27.0.default.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := helm.Objects(string(b), "ns")
		if err != nil {
			t.Fatal(err)
		}
		got, err := helm.WorkloadsOf(string(b), "ns")
		if want := helm.Workloads(objs); err != nil || fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
			t.Errorf("%s: %v %v, want %v", f, got, err, want)
		}
	}
}
