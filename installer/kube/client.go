package kube

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client is client-go access to one cluster. Kube and REST are exported so
// other installer packages (Helm) reuse the same connection settings
// instead of reading the kubeconfig again.
type Client struct {
	Kube kubernetes.Interface
	REST *rest.Config
}

// New builds a client from kubeconfig bytes (its current context). It does
// not contact the API.
func New(kubeconfig []byte) (*Client, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("the stored kubeconfig cannot be used (%w); run foundry cluster init to fetch it again", err)
	}
	return NewFromREST(cfg)
}

// NewFromREST builds a client from a REST config. Foundry's own calls come
// in bursts (a drain evicts every pod of a node), so client-go's default of
// 5 requests per second is raised.
func NewFromREST(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = 50
	}
	if cfg.Burst == 0 {
		cfg.Burst = 100
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "foundry"
	}
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create Kubernetes client for %s: %w", cfg.Host, err)
	}
	return &Client{Kube: k, REST: cfg}, nil
}

// Server is the API address the client talks to, for messages.
func (c *Client) Server() string {
	if c.REST == nil {
		return "the API server"
	}
	return c.REST.Host
}

// apiErr wraps a failed API call with the server's address, so "connection
// refused" says which server refused.
func (c *Client) apiErr(op string, err error) error {
	return fmt.Errorf("%s (API %s): %w", op, c.Server(), err)
}
