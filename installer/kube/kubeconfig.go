package kube

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// APIPort is the port k3s serves the Kubernetes API on.
const APIPort = "6443"

// RewriteServer points every cluster entry of a kubeconfig at server,
// keeping its CA data and credentials. k3s writes https://127.0.0.1:6443,
// which only works on the server itself. server is a host or IP (port 6443
// is added), a host:port, or a full https URL.
func RewriteServer(kubeconfig []byte, server string) ([]byte, error) {
	return rewrite(kubeconfig, server, "")
}

// ForCluster is RewriteServer that also renames the kubeconfig's single
// cluster, context and user (k3s calls them all "default") to the cluster's
// name, so the file can sit next to other kubeconfigs without clashing.
func ForCluster(kubeconfig []byte, server, cluster string) ([]byte, error) {
	if err := checkClusterName(cluster); err != nil {
		return nil, err
	}
	return rewrite(kubeconfig, server, cluster)
}

// ServerURL turns a host, host:port or URL into the API's https URL.
func ServerURL(server string) (string, error) {
	s := strings.TrimSpace(server)
	if s == "" {
		return "", fmt.Errorf("API server address is empty: give the first server's address")
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", fmt.Errorf("API server address %q: want https://host:port", server)
		}
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), APIPort)
		}
		return "https://" + u.Host, nil
	}
	host, port := s, APIPort
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return "", fmt.Errorf("API server address %q: want a host, an IP or host:port", server)
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

func rewrite(kubeconfig []byte, server, name string) ([]byte, error) {
	u, err := ServerURL(server)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig fetched from the server is not valid YAML: %w", err)
	}
	if len(cfg.Clusters) == 0 {
		return nil, fmt.Errorf("the kubeconfig has no cluster entry; fetch it again from the first server")
	}
	for _, c := range cfg.Clusters {
		c.Server = u
	}
	if name != "" {
		if cfg, err = rename(cfg, name); err != nil {
			return nil, err
		}
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return out, nil
}

// rename gives the one cluster, user and context of a k3s kubeconfig the
// cluster's name. A kubeconfig with several of any is not k3s's and is
// refused rather than merged into one guess.
func rename(cfg *clientcmdapi.Config, name string) (*clientcmdapi.Config, error) {
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		return nil, fmt.Errorf("the kubeconfig has %d clusters, %d users and %d contexts; k3s writes one of each: fetch /etc/rancher/k3s/k3s.yaml again",
			len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}
	out := clientcmdapi.NewConfig()
	out.Preferences = cfg.Preferences
	out.Extensions = cfg.Extensions
	for _, c := range cfg.Clusters {
		out.Clusters[name] = c
	}
	for _, a := range cfg.AuthInfos {
		out.AuthInfos[name] = a
	}
	for _, ctx := range cfg.Contexts {
		c := *ctx
		c.Cluster, c.AuthInfo = name, name
		out.Contexts[name] = &c
	}
	out.CurrentContext = name
	return out, nil
}
