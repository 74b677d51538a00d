package helm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// FieldManager owns, in server-side apply, the objects Foundry applies
// outside Helm releases (cert-manager's issuers), so a re-apply takes
// back fields someone edited and leaves other managers' fields alone.
const FieldManager = "foundry"

// Applied is one object Apply wrote, and whether the API server changed
// it (a new object or a new resourceVersion); a re-run that changes
// nothing reports Changed false for every object.
type Applied struct {
	ID      string `json:"id"`
	Changed bool   `json:"changed"`
}

// Apply server-side applies objs in order. A custom resource can be
// refused for a while after its chart is ready: its CRD is not served
// yet, or the admission webhook guarding it has no certificate yet. Those
// refusals are retried with backoff until timeout; any other error, and
// the last refusal at the deadline, is returned naming the object.
func Apply(ctx context.Context, g *Getter, objs []*unstructured.Unstructured, timeout time.Duration) ([]Applied, error) {
	rc, err := g.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	cache := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cache)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := make([]Applied, 0, len(objs))
	for _, o := range objs {
		id := objectID(o)
		wait := 250 * time.Millisecond
		for {
			changed, err := applyOne(ctx, dyn, mapper, o)
			if err == nil {
				out = append(out, Applied{ID: id, Changed: changed})
				break
			}
			if !retryable(err) {
				return out, fmt.Errorf("apply %s: %w", id, err)
			}
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				mapper.Reset() // a CRD may have become served since the last discovery
			}
			select {
			case <-ctx.Done():
				return out, fmt.Errorf("apply %s: the cluster did not accept it within %s: %w", id, timeout, err)
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}
	return out, nil
}

func applyOne(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, o *unstructured.Unstructured) (bool, error) {
	gvk := o.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false, err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	before := ""
	if cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{}); err == nil {
		before = cur.GetResourceVersion()
	} else if !apierrors.IsNotFound(err) {
		return false, err
	}
	got, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return false, err
	}
	return got.GetResourceVersion() != before, nil
}

// retryable: the API cannot take the object yet, but will once the
// component finishes starting.
func retryable(err error) bool {
	var noMatch *meta.NoKindMatchError
	switch {
	case errors.As(err, &noMatch), meta.IsNoMatchError(err),
		apierrors.IsNotFound(err), // the CRD's resource is not served yet
		apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err),
		apierrors.IsServerTimeout(err), apierrors.IsTooManyRequests(err):
		return true
	case apierrors.IsInternalError(err):
		return strings.Contains(err.Error(), "webhook")
	}
	return false
}

func objectID(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + "/" + ns + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetName()
}
