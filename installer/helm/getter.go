package helm

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Getter gives Helm and client-go a cluster from kubeconfig bytes held in
// memory. genericclioptions.ConfigFlags would read ~/.kube/config and
// write a discovery cache under ~/.kube/cache; Foundry keeps kubeconfigs
// in OpenBAO and must not leave a copy on the operator's disk.
type Getter struct {
	raw       clientcmd.ClientConfig
	config    *rest.Config
	namespace string

	once      sync.Once
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
	err       error
}

// NewGetter parses kubeconfig (its current context) for namespace, the
// default namespace Helm's kube client uses for objects without one.
func NewGetter(kubeconfig []byte, namespace string) (*Getter, error) {
	raw, err := clientcmd.NewClientConfigFromBytes(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	cfg, err := raw.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	// Helm's kube client lists and watches many kinds; client-go's default
	// of 5 QPS makes a chart like argo-cd take minutes for nothing.
	cfg.QPS, cfg.Burst = 50, 100
	return &Getter{raw: raw, config: cfg, namespace: namespace}, nil
}

// ForNamespace returns a getter for the same cluster with another default
// namespace; Helm binds a release's storage to the getter's namespace.
func (g *Getter) ForNamespace(namespace string) *Getter {
	return &Getter{raw: g.raw, config: g.config, namespace: namespace}
}

// ToRESTConfig returns a copy, so callers cannot change the shared one.
func (g *Getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }

// ToDiscoveryClient returns one in-memory discovery cache per getter.
func (g *Getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.init()
	return g.discovery, g.err
}

// ToRESTMapper maps kinds to resources through the discovery cache, and
// resets it when a kind is unknown (a chart's CRDs were just created).
func (g *Getter) ToRESTMapper() (meta.RESTMapper, error) {
	g.init()
	return g.mapper, g.err
}

// ToRawKubeConfigLoader is what Helm's kube client reads the namespace
// from; it wraps the in-memory kubeconfig, never a file.
func (g *Getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return namespaced{base: g.raw, namespace: g.namespace}
}

// Clientset is a typed client for the readiness watches.
func (g *Getter) Clientset() (kubernetes.Interface, error) {
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(g.config))
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}

func (g *Getter) init() {
	g.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.config))
		if err != nil {
			g.err = fmt.Errorf("discovery client: %w", err)
			return
		}
		g.discovery = memory.NewMemCacheClient(dc)
		deferred := restmapper.NewDeferredDiscoveryRESTMapper(g.discovery)
		g.mapper = restmapper.NewShortcutExpander(deferred, g.discovery, nil)
	})
}

// namespaced overrides the kubeconfig context's namespace.
type namespaced struct {
	base      clientcmd.ClientConfig
	namespace string
}

func (n namespaced) RawConfig() (clientcmdapi.Config, error) { return n.base.RawConfig() }
func (n namespaced) ClientConfig() (*rest.Config, error)     { return n.base.ClientConfig() }
func (n namespaced) ConfigAccess() clientcmd.ConfigAccess    { return n.base.ConfigAccess() }

func (n namespaced) Namespace() (string, bool, error) {
	if n.namespace == "" {
		return n.base.Namespace()
	}
	return n.namespace, true, nil
}
