package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runNodes is the hidden "k3s __nodes [kubeconfig]": one line per Node
// (name, Ready, InternalIP, roles, kubelet version), so a check on a test
// host needs no kubectl. Not a k3s command.
func runNodes(args []string) int {
	kc := "/etc/rancher/k3s/k3s.yaml"
	if len(args) > 0 {
		kc = args[0]
	}
	cs, err := clientFor(kc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "list nodes:", err)
		return 1
	}
	for _, n := range nodes.Items {
		ready, ip := "Unknown", ""
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = string(c.Status)
			}
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ip = a.Address
			}
		}
		var roles []string
		for l := range n.Labels {
			if r, ok := strings.CutPrefix(l, "node-role.kubernetes.io/"); ok {
				roles = append(roles, r)
			}
		}
		sort.Strings(roles)
		fmt.Printf("%s Ready=%s %s roles=%s %s\n", n.Name, ready, ip, strings.Join(roles, ","), n.Status.NodeInfo.KubeletVersion)
	}
	return 0
}
