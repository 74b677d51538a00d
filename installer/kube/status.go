package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// maxReadyzBody bounds the /readyz body kept for display; the verbose
// answer is a few dozen short lines.
const maxReadyzBody = 8 << 10

// ClusterStatus is the cluster's health as its API reports it.
type ClusterStatus struct {
	Server string `json:"server"`
	Readyz Readyz `json:"readyz"`
	// Version is the API server's version (k3s reports "v1.x.y+k3s1").
	Version    string `json:"version"`
	NodesReady int    `json:"nodes_ready"`
	NodesTotal int    `json:"nodes_total"`
	Nodes      []Node `json:"nodes"`
	// SystemPods are kube-system's pods; PodPhases counts them by phase.
	SystemPods      []Pod          `json:"system_pods"`
	SystemPodsReady int            `json:"system_pods_ready"`
	PodPhases       map[string]int `json:"system_pod_phases"`
	// Etcd lists the nodes k3s marks as embedded etcd members
	// (node-role.kubernetes.io/etcd=true); empty for a cluster without
	// embedded etcd (a single server with its default datastore).
	Etcd []EtcdMember `json:"etcd_members"`
}

// Readyz is the answer of the API's /readyz?verbose.
type Readyz struct {
	OK   bool   `json:"ok"`
	Code int    `json:"code"`
	Body string `json:"body"`
}

// Pod is one pod as the status shows it.
type Pod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	Ready     bool   `json:"ready"`
	Node      string `json:"node,omitempty"`
}

// EtcdMember is a server node running an embedded etcd member.
type EtcdMember struct {
	Name       string `json:"name"`
	Ready      bool   `json:"ready"`
	InternalIP string `json:"internal_ip"`
}

// Status reads the cluster's health from its API: /readyz (an unhealthy
// answer is reported, not an error), the server version, nodes, kube-system
// pods and etcd members. An API that cannot be reached is an error.
func (c *Client) Status(ctx context.Context) (ClusterStatus, error) {
	st := ClusterStatus{Server: c.Server(), PodPhases: map[string]int{}}
	rz, err := c.readyz(ctx)
	if err != nil {
		return st, err
	}
	st.Readyz = rz
	if st.Version, err = c.serverVersion(ctx); err != nil {
		return st, err
	}

	if st.Nodes, err = c.Nodes(ctx); err != nil {
		return st, err
	}
	st.NodesTotal = len(st.Nodes)
	for _, n := range st.Nodes {
		if n.Ready {
			st.NodesReady++
		}
		if n.Labels[EtcdRoleLabel] == "true" {
			st.Etcd = append(st.Etcd, EtcdMember{Name: n.Name, Ready: n.Ready, InternalIP: n.InternalIP})
		}
	}

	pods, err := c.Kube.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, c.apiErr("list kube-system pods", err)
	}
	for i := range pods.Items {
		p := podOf(&pods.Items[i])
		st.SystemPods = append(st.SystemPods, p)
		st.PodPhases[p.Phase]++
		if p.Ready {
			st.SystemPodsReady++
		}
	}
	sort.Slice(st.SystemPods, func(i, j int) bool { return st.SystemPods[i].Name < st.SystemPods[j].Name })
	return st, nil
}

// readyz asks the API server itself whether it is ready. Only a transport
// failure is an error: a 500 with the failing checks listed is an answer.
func (c *Client) readyz(ctx context.Context) (Readyz, error) {
	res := c.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "").Do(ctx)
	var code int
	res.StatusCode(&code)
	body, err := res.Raw()
	if code == 0 {
		if err == nil {
			err = fmt.Errorf("no HTTP status")
		}
		return Readyz{}, c.apiErr("GET /readyz", err)
	}
	if len(body) > maxReadyzBody {
		body = body[:maxReadyzBody]
	}
	return Readyz{OK: code == 200, Code: code, Body: strings.TrimSpace(string(body))}, nil
}

// serverVersion reads /version with ctx (discovery's ServerVersion ignores
// any deadline).
func (c *Client) serverVersion(ctx context.Context) (string, error) {
	body, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", c.apiErr("read server version", err)
	}
	var v version.Info
	if err := json.Unmarshal(body, &v); err != nil {
		return "", c.apiErr("read server version", fmt.Errorf("decode /version: %w", err))
	}
	return v.GitVersion, nil
}

func podOf(p *corev1.Pod) Pod {
	out := Pod{Namespace: p.Namespace, Name: p.Name, Phase: string(p.Status.Phase), Node: p.Spec.NodeName}
	if out.Phase == "" {
		out.Phase = string(corev1.PodPending)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return out
}
