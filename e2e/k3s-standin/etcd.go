package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// etcdPlan is where this server's etcd listens and whom it joins.
type etcdPlan struct {
	Host       string // address peers and the local apiserver use
	ExtraLocal bool   // also listen on 127.0.0.1 for clients
	JoinFrom   string // a server URL to MemberAdd through, when joining
	MemberName string
	ClientPort int
	PeerPort   int
}

func (p etcdPlan) clientURL() string {
	return "https://" + net.JoinHostPort(p.Host, fmt.Sprint(p.ClientPort))
}
func (p etcdPlan) peerURL() string {
	return "https://" + net.JoinHostPort(p.Host, fmt.Sprint(p.PeerPort))
}

// writeEtcdCerts issues the serving/peer cert for this member and the
// client cert the apiserver (and a joiner's MemberAdd) uses.
func writeEtcdCerts(l layout, p etcdPlan) error {
	b, err := os.ReadFile(l.tls("etcd-ca.crt"))
	if err != nil {
		return fmt.Errorf("etcd CA: %w", err)
	}
	k, err := os.ReadFile(l.tls("etcd-ca.key"))
	if err != nil {
		return fmt.Errorf("etcd CA key: %w", err)
	}
	ca, err := parseCA(b, k)
	if err != nil {
		return fmt.Errorf("etcd CA: %w", err)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	if ip := net.ParseIP(p.Host); ip != nil {
		ips = append(ips, ip)
	}
	if err := ca.writeLeaf(l.tls("etcd", "server"), leafSpec{CN: "etcd-server-" + p.MemberName,
		DNS: []string{"localhost", p.MemberName}, IPs: ips, Server: true, Client: true}); err != nil {
		return err
	}
	return ca.writeLeaf(l.tls("etcd", "client"), leafSpec{CN: "etcd-client", Client: true})
}

// startEtcd runs etcd in this process. A new member of an existing
// cluster is first added through clientv3 MemberAdd on the joined server.
func startEtcd(ctx context.Context, log *slog.Logger, l layout, p etcdPlan) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = p.MemberName
	cfg.Dir = l.etcdDir()
	cfg.LogLevel = "warn"
	if err := os.MkdirAll(filepath.Dir(l.logs("etcd")), 0o755); err != nil {
		return nil, fmt.Errorf("etcd log dir: %w", err)
	}
	cfg.LogOutputs = []string{l.logs("etcd")}
	peer, _ := url.Parse(p.peerURL())
	client, _ := url.Parse(p.clientURL())
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	if p.ExtraLocal {
		local, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d", p.ClientPort))
		cfg.ListenClientUrls = append(cfg.ListenClientUrls, *local)
	}
	tlsInfo := transport.TLSInfo{
		CertFile: l.tls("etcd", "server.crt"), KeyFile: l.tls("etcd", "server.key"),
		TrustedCAFile: l.tls("etcd-ca.crt"), ClientCertAuth: true,
	}
	cfg.ClientTLSInfo = tlsInfo
	cfg.PeerTLSInfo = tlsInfo
	cfg.InitialClusterToken = "k3s-standin"
	cfg.InitialCluster = p.MemberName + "=" + p.peerURL()

	_, statErr := os.Stat(filepath.Join(cfg.Dir, "member"))
	hasData := statErr == nil
	if p.JoinFrom != "" && !hasData {
		initial, err := addEtcdMember(ctx, log, l, p)
		if err != nil {
			return nil, err
		}
		cfg.InitialCluster = initial
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		log.Info("etcd ready", "client", p.clientURL(), "peer", p.peerURL(), "member", p.MemberName)
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("etcd not ready: %w", ctx.Err())
	}
}

// addEtcdMember adds this server to the etcd cluster of the server it
// joins (whose etcd client port is on the same host as its API) and
// returns the --initial-cluster string for the new member.
func addEtcdMember(ctx context.Context, log *slog.Logger, l layout, p etcdPlan) (string, error) {
	u, err := url.Parse(p.JoinFrom)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	endpoint := "https://" + net.JoinHostPort(u.Hostname(), fmt.Sprint(p.ClientPort))
	tlsCfg, err := (transport.TLSInfo{CertFile: l.tls("etcd", "client.crt"), KeyFile: l.tls("etcd", "client.key"),
		TrustedCAFile: l.tls("etcd-ca.crt")}).ClientConfig()
	if err != nil {
		return "", fmt.Errorf("etcd client TLS: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsCfg,
		DialTimeout: 10 * time.Second, Context: ctx, Logger: nil})
	if err != nil {
		return "", fmt.Errorf("etcd client %s: %w", endpoint, err)
	}
	defer cli.Close()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := removeStaleMember(actx, cli, p); err != nil {
		return "", err
	}
	resp, err := memberAdd(actx, cli, p.peerURL())
	if err != nil {
		return "", fmt.Errorf("etcd MemberAdd via %s: %w", endpoint, err)
	}
	parts := []string{}
	for _, m := range resp.Members {
		name := m.Name
		if m.ID == resp.Member.ID {
			name = p.MemberName
		}
		for _, pu := range m.PeerURLs {
			parts = append(parts, name+"="+pu)
		}
	}
	log.Info("etcd member added", "via", endpoint, "initial-cluster", strings.Join(parts, ","))
	return strings.Join(parts, ","), nil
}

// memberAdd retries while etcd refuses a member for now: its leader must
// have been connected to every voting member for etcd's health interval
// (5 s), so a third server joining right after the second is refused
// "unhealthy cluster". Real k3s gets the same answer and is restarted by
// its unit until it passes; the stand-in waits in-process instead so the
// installer's start step sees one start.
func memberAdd(ctx context.Context, cli *clientv3.Client, peerURL string) (*clientv3.MemberAddResponse, error) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := cli.MemberAdd(ctx, []string{peerURL})
		if err == nil || !retryableMemberAdd(err) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-tick.C:
		}
	}
}

func retryableMemberAdd(err error) bool {
	return errors.Is(err, rpctypes.ErrUnhealthy) || errors.Is(err, rpctypes.ErrMemberNotEnoughStarted)
}

// removeStaleMember drops a member left with our peer URL or name by an
// earlier attempt that never got its data dir (else MemberAdd fails).
func removeStaleMember(ctx context.Context, cli *clientv3.Client, p etcdPlan) error {
	list, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("etcd MemberList via %v (does the first server run with cluster-init, so its etcd listens on its node-ip?): %w", cli.Endpoints(), err)
	}
	for _, m := range list.Members {
		stale := m.Name == p.MemberName
		for _, pu := range m.PeerURLs {
			stale = stale || pu == p.peerURL()
		}
		if !stale {
			continue
		}
		if _, err := cli.MemberRemove(ctx, m.ID); err != nil {
			return fmt.Errorf("etcd MemberRemove stale %s: %w", m.Name, err)
		}
	}
	return nil
}
