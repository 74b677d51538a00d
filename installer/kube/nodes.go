package kube

import (
	"context"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Label prefixes and values Kubernetes and k3s mark node roles with.
const (
	roleLabelPrefix = "node-role.kubernetes.io/"
	legacyRoleLabel = "kubernetes.io/role"
	// EtcdRoleLabel is k3s's marker of a server that runs an embedded etcd
	// member (set to "true").
	EtcdRoleLabel = roleLabelPrefix + "etcd"
)

// Node is what Foundry shows of a Kubernetes node.
type Node struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	Ready bool     `json:"ready"`
	// ReadyReason and ReadyMessage are the Ready condition's, or say the
	// node has none yet.
	ReadyReason    string            `json:"ready_reason,omitempty"`
	ReadyMessage   string            `json:"ready_message,omitempty"`
	KubeletVersion string            `json:"kubelet_version"`
	InternalIP     string            `json:"internal_ip"`
	Created        time.Time         `json:"created"`
	Labels         map[string]string `json:"labels,omitempty"`
	Taints         []Taint           `json:"taints,omitempty"`
	Unschedulable  bool              `json:"unschedulable"`
}

// Taint is one node taint.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// Nodes lists the cluster's nodes, sorted by name.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	l, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, c.apiErr("list nodes", err)
	}
	out := make([]Node, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, nodeOf(&l.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func nodeOf(n *corev1.Node) Node {
	ready, reason, msg := nodeReady(n)
	out := Node{
		Name:           n.Name,
		Roles:          Roles(n.Labels),
		Ready:          ready,
		ReadyReason:    reason,
		ReadyMessage:   msg,
		KubeletVersion: n.Status.NodeInfo.KubeletVersion,
		InternalIP:     internalIP(n),
		Created:        n.CreationTimestamp.Time,
		Labels:         n.Labels,
		Unschedulable:  n.Spec.Unschedulable,
	}
	for _, t := range n.Spec.Taints {
		out.Taints = append(out.Taints, Taint{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
	}
	return out
}

// Roles returns a node's roles from its labels, sorted:
// node-role.kubernetes.io/<role> (k3s sets control-plane, master and etcd
// on servers) and the older kubernetes.io/role=<role>. A node without any
// has none; the CLI decides how to show that.
func Roles(labels map[string]string) []string {
	seen := map[string]bool{}
	var roles []string
	add := func(r string) {
		if r != "" && !seen[r] {
			seen[r] = true
			roles = append(roles, r)
		}
	}
	for k, v := range labels {
		if r, ok := strings.CutPrefix(k, roleLabelPrefix); ok {
			// k3s sets "true"; a role explicitly marked false is not one.
			if v != "false" {
				add(r)
			}
		}
	}
	if r := labels[legacyRoleLabel]; r != "" {
		add(r)
	}
	sort.Strings(roles)
	return roles
}

// nodeReady reads a node's Ready condition: whether it is True, and its
// reason and message (why it is not, when it is not).
func nodeReady(n *corev1.Node) (bool, string, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, c.Reason, c.Message
		}
	}
	return false, "NoReadyCondition", "the node has not reported a Ready condition yet"
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
