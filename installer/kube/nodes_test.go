package kube

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   []string
	}{
		{nil, nil},
		{map[string]string{"kubernetes.io/hostname": "w1"}, nil},
		// What k3s puts on an HA server.
		{map[string]string{
			"node-role.kubernetes.io/control-plane": "true",
			"node-role.kubernetes.io/master":        "true",
			"node-role.kubernetes.io/etcd":          "true",
		}, []string{"control-plane", "etcd", "master"}},
		// kubeadm sets an empty value.
		{map[string]string{"node-role.kubernetes.io/worker": ""}, []string{"worker"}},
		{map[string]string{"node-role.kubernetes.io/etcd": "false"}, nil},
		{map[string]string{"kubernetes.io/role": "worker", "node-role.kubernetes.io/worker": "true"}, []string{"worker"}},
		{map[string]string{"kubernetes.io/role": "ingress"}, []string{"ingress"}},
		{map[string]string{"node-role.kubernetes.io/": "true"}, nil},
	} {
		if got := Roles(tc.labels); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Roles(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

func TestNodeOfReadsReadyAddressAndTaints(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "w1", Labels: map[string]string{"node-role.kubernetes.io/worker": "true"}},
		Spec: corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{
			{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule},
		}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "container runtime is down"},
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: "w1"},
				{Type: corev1.NodeInternalIP, Address: "10.77.0.12"},
			},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.4+k3s1"},
		},
	}
	got := nodeOf(n)
	if got.Ready || got.ReadyReason != "KubeletNotReady" || got.ReadyMessage != "container runtime is down" {
		t.Errorf("ready = %v %q %q", got.Ready, got.ReadyReason, got.ReadyMessage)
	}
	if got.InternalIP != "10.77.0.12" || got.KubeletVersion != "v1.35.4+k3s1" || !got.Unschedulable {
		t.Errorf("node = %+v", got)
	}
	if !reflect.DeepEqual(got.Roles, []string{"worker"}) || len(got.Taints) != 1 || got.Taints[0].Effect != "NoSchedule" {
		t.Errorf("roles %v taints %v", got.Roles, got.Taints)
	}
	if r, reason, _ := nodeReady(&corev1.Node{}); r || reason != "NoReadyCondition" {
		t.Errorf("a node without conditions: ready=%v reason=%q", r, reason)
	}
}
