package main

import (
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a self-contained kubeconfig (certs embedded, like
// k3s.yaml) for a client certificate in base.crt/base.key.
func writeKubeconfig(path, server string, caPEM []byte, base string, mode os.FileMode) error {
	crt, err := os.ReadFile(base + ".crt")
	if err != nil {
		return fmt.Errorf("kubeconfig cert: %w", err)
	}
	key, err := os.ReadFile(base + ".key")
	if err != nil {
		return fmt.Errorf("kubeconfig key: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return writeFile(path, b, mode)
}

// clientFor builds a clientset from a kubeconfig file.
func clientFor(path string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client from %s: %w", path, err)
	}
	return cs, nil
}
