package helm

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/foundry-fleet/foundry/controller/config"
)

// PostInstall lists the objects that go into the cluster once comp's
// release is ready: custom resources of the CRDs the release brings,
// which its own chart cannot create (cert-manager's issuers). Most
// components have none. The objects hold no secret values.
func PostInstall(comp Component, c *config.Config) ([]*unstructured.Unstructured, error) {
	switch comp.Name {
	case "cert-manager":
		return Issuers(deref(c.Components.CertManager), c.Cluster.Name, comp.Namespace)
	}
	return nil, nil
}

// ApplyPostInstall server-side applies objs (from PostInstall) after
// comp's release is ready; re-applying unchanged objects changes nothing.
func (c *Client) ApplyPostInstall(ctx context.Context, comp Component, objs []*unstructured.Unstructured) ([]Applied, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	c.log().Info("applying post-install objects", "release", comp.Release(), "objects", len(objs))
	return Apply(ctx, c.Getter, objs, c.timeout())
}
