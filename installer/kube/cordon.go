package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Cordon marks node unschedulable, so nothing new lands on it while it is
// drained. Cordoning a cordoned node changes nothing.
func (c *Client) Cordon(ctx context.Context, node string) error {
	return c.setUnschedulable(ctx, node, true)
}

// Uncordon makes node schedulable again (after a removal that was given up).
func (c *Client) Uncordon(ctx context.Context, node string) error {
	return c.setUnschedulable(ctx, node, false)
}

func (c *Client) setUnschedulable(ctx context.Context, node string, v bool) error {
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, v)
	_, err := c.Kube.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("node %s is not in the cluster (foundry cluster node list shows the nodes): %w", node, err)
	}
	if err != nil {
		op := "cordon node " + node
		if !v {
			op = "uncordon node " + node
		}
		return c.apiErr(op, err)
	}
	return nil
}

// DeleteNode removes the Node object. A node that is already gone is not
// an error, so a removal that was interrupted can be run again.
func (c *Client) DeleteNode(ctx context.Context, node string) error {
	err := c.Kube.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return c.apiErr("delete node "+node, err)
	}
	return nil
}
