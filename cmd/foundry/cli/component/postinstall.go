package component

import (
	"context"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/foundry-fleet/foundry/installer/helm"
)

// postInstall applies what goes into the cluster once the release is
// ready (cert-manager's issuers). It runs on every install, changed or
// not, so a re-run restores an issuer someone deleted.
func postInstall(ctx context.Context, o *Options, hc *helm.Client, p clusterPlan) error {
	objs, err := helm.PostInstall(p.comp, p.cfg)
	if err != nil || len(objs) == 0 {
		return err
	}
	applied, err := hc.ApplyPostInstall(ctx, p.comp, objs)
	for _, a := range applied {
		if a.Changed {
			fmt.Fprintf(o.IO.ErrOut, "applied %s\n", a.ID)
		}
	}
	if err != nil {
		return fmt.Errorf("%s is installed but its post-install objects are not: %w; run foundry component install %s again once it is healthy", p.comp.Name, err, p.comp.Name)
	}
	return nil
}

// dryRunPostInstall prints the post-install objects; they hold no
// secrets.
func dryRunPostInstall(o *Options, p clusterPlan) error {
	objs, err := helm.PostInstall(p.comp, p.cfg)
	if err != nil || len(objs) == 0 {
		return err
	}
	fmt.Fprintf(o.IO.Out, "# applied after %s is ready (server-side apply):\n", p.comp.Name)
	for _, obj := range objs {
		b, err := yaml.Marshal(obj.Object)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.IO.Out, "---\n%s", b)
	}
	return nil
}
