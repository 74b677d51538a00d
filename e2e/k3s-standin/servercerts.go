package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// loadCA reads a CA written by ensureCAs or fetchBootstrap.
func loadCA(l layout, name string) (*certAuthority, error) {
	c, err := os.ReadFile(l.tls(name + ".crt"))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	k, err := os.ReadFile(l.tls(name + ".key"))
	if err != nil {
		return nil, fmt.Errorf("read %s key: %w", name, err)
	}
	return parseCA(c, k)
}

// apiSANs are the serving certificate's names: what k3s puts there plus
// every tls-san, so clients may use any address of the host.
func apiSANs(c *Config) ([]string, []net.IP, error) {
	dns := []string{"localhost", c.NodeName, "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	add := func(s string) {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else if s != "" {
			dns = append(dns, s)
		}
	}
	add(c.NodeIP)
	if p := net.ParseIP(c.BindAddress); p != nil && !p.IsUnspecified() {
		add(c.BindAddress)
	}
	for _, s := range c.TLSSANs {
		add(s)
	}
	svc, err := firstServiceIP(c.ServiceCIDR)
	if err != nil {
		return nil, nil, err
	}
	ips = append(ips, svc)
	return dns, ips, nil
}

// firstServiceIP is the kubernetes Service's ClusterIP (.1 of service-cidr).
func firstServiceIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("service-cidr: %w", err)
	}
	ip := append(net.IP{}, n.IP...)
	ip[len(ip)-1]++
	return ip, nil
}

// writeServerCerts issues this server's leaf certificates; they are
// re-issued at each start so a changed node-ip or tls-san takes effect.
func writeServerCerts(c *Config, l layout) error {
	server, err := loadCA(l, "server-ca")
	if err != nil {
		return err
	}
	client, err := loadCA(l, "client-ca")
	if err != nil {
		return err
	}
	dns, ips, err := apiSANs(c)
	if err != nil {
		return err
	}
	if err := server.writeLeaf(l.tls("serving-kube-apiserver"), leafSpec{CN: "kube-apiserver", DNS: dns, IPs: ips, Server: true}); err != nil {
		return err
	}
	for _, s := range []struct{ base, cn, org string }{
		{"client-admin", "system:admin", "system:masters"},
		{"client-controller", "system:kube-controller-manager", ""},
		{"client-scheduler", "system:kube-scheduler", ""},
	} {
		spec := leafSpec{CN: s.cn, Client: true}
		if s.org != "" {
			spec.Orgs = []string{s.org}
		}
		if err := client.writeLeaf(l.tls(s.base), spec); err != nil {
			return err
		}
	}
	return writeNodeCert(l, client, c.NodeName)
}

// writeNodeCert issues the kubelet-style identity this node's kwok and
// registration use (Node authorizer + the kwok ClusterRole).
func writeNodeCert(l layout, client *certAuthority, node string) error {
	return client.writeLeaf(l.agent("client-node"), leafSpec{CN: "system:node:" + node, Orgs: []string{"system:nodes"}, Client: true})
}

// writeKubeconfigs writes the admin kubeconfig (k3s.yaml) and the
// component ones.
func writeKubeconfigs(c *Config, l layout, local string, caPEM []byte) error {
	mode := os.FileMode(0o600)
	if c.WriteKubeconfigMode != "" {
		m, err := strconv.ParseUint(c.WriteKubeconfigMode, 8, 32)
		if err != nil {
			return fmt.Errorf("write-kubeconfig-mode %q: %w", c.WriteKubeconfigMode, err)
		}
		mode = os.FileMode(m)
	}
	if err := writeKubeconfig(c.KubeconfigOut, local, caPEM, l.tls("client-admin"), mode); err != nil {
		return err
	}
	for _, k := range []struct{ path, base string }{
		{l.server("cred", "controller.kubeconfig"), l.tls("client-controller")},
		{l.server("cred", "scheduler.kubeconfig"), l.tls("client-scheduler")},
		{l.agent("node.kubeconfig"), l.agent("client-node")},
	} {
		if err := writeKubeconfig(k.path, local, caPEM, k.base, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func apiserverArgs(c *Config, l layout, p etcdPlan) []string {
	args := []string{
		"--etcd-servers=" + p.clientURL(),
		"--etcd-cafile=" + l.tls("etcd-ca.crt"),
		"--etcd-certfile=" + l.tls("etcd", "client.crt"),
		"--etcd-keyfile=" + l.tls("etcd", "client.key"),
		"--bind-address=" + c.BindAddress,
		"--secure-port=" + strconv.Itoa(c.HTTPSPort),
		"--tls-cert-file=" + l.tls("serving-kube-apiserver.crt"),
		"--tls-private-key-file=" + l.tls("serving-kube-apiserver.key"),
		"--client-ca-file=" + l.tls("client-ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + l.tls("service.key"),
		"--service-account-signing-key-file=" + l.tls("service.key"),
		"--service-cluster-ip-range=" + c.ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		"--token-auth-file=" + l.server("cred", "token-auth.csv"),
		"--allow-privileged=true",
		"--profiling=false",
	}
	if !isLoopback(c.NodeIP) {
		args = append(args, "--advertise-address="+c.NodeIP)
	}
	return args
}

func controllerManagerArgs(c *Config, l layout) []string {
	return []string{
		"--kubeconfig=" + l.server("cred", "controller.kubeconfig"),
		"--authentication-kubeconfig=" + l.server("cred", "controller.kubeconfig"),
		"--authorization-kubeconfig=" + l.server("cred", "controller.kubeconfig"),
		"--service-account-private-key-file=" + l.tls("service.key"),
		"--root-ca-file=" + l.tls("server-ca.crt"),
		"--cluster-signing-cert-file=" + l.tls("client-ca.crt"),
		"--cluster-signing-key-file=" + l.tls("client-ca.key"),
		"--use-service-account-credentials=true",
		"--leader-elect=true",
		"--controllers=*,-nodeipam",
		"--cluster-cidr=" + c.ClusterCIDR,
		"--service-cluster-ip-range=" + c.ServiceCIDR,
		"--secure-port=0",
		"--profiling=false",
	}
}

func schedulerArgs(l layout) []string {
	kc := l.server("cred", "scheduler.kubeconfig")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--leader-elect=true",
		"--secure-port=0",
		"--profiling=false",
	}
}

// waitReady polls /readyz (anonymous, allowed by default RBAC) until it
// answers 200, the context ends, or the apiserver child dies.
func waitReady(ctx context.Context, url string, caPEM []byte, sup *supervisor) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("readyz: %w", err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %w (last: %v)", ctx.Err(), last)
		case ch := <-sup.died:
			return fmt.Errorf("%s exited before ready (%v); last log lines:\n%s", ch.name, ch.err, ch.tail(30))
		case <-t.C:
		}
	}
}
