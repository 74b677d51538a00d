package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// Fixed etcd ports, as k3s uses; servers on one machine differ by node-ip.
const (
	etcdClientPort = 2379
	etcdPeerPort   = 2380
)

// runServer brings up etcd, the three control-plane components and this
// node, in that order, then waits for a signal or a dead child.
func runServer(ctx context.Context, log *slog.Logger, c *Config, reg *Registries) error {
	l := layout{dir: c.DataDir}
	if err := os.MkdirAll(l.server(), 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	tok, err := serverToken(c, l)
	if err != nil {
		return err
	}
	joining := c.Server != ""
	if joining {
		if err := joinBootstrap(ctx, log, c, l, tok); err != nil {
			return err
		}
	} else if err := ensureCAs(l); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(l.tls("server-ca.crt"))
	if err != nil {
		return fmt.Errorf("server CA: %w", err)
	}
	if err := writeFile(l.nodeToken(), []byte(nodeToken(caPEM, tok.Secret)+"\n"), 0o600); err != nil {
		return err
	}
	if err := writeFile(l.server("cred", "token-auth.csv"), []byte(tokenAuthLine(tok.Secret)), 0o600); err != nil {
		return err
	}
	if err := writeServerCerts(c, l); err != nil {
		return err
	}

	sup := newSupervisor()
	defer sup.stopAll(10 * time.Second)

	plan := etcdPlan{Host: "127.0.0.1", MemberName: c.NodeName, ClientPort: etcdClientPort, PeerPort: etcdPeerPort}
	if c.ClusterInit || joining || isLoopback(c.NodeIP) {
		plan.Host = c.NodeIP
	}
	plan.ExtraLocal = !isLoopback(plan.Host)
	if joining {
		plan.JoinFrom = c.Server
	}
	if err := writeEtcdCerts(l, plan); err != nil {
		return err
	}
	etcd, err := startEtcd(ctx, log, l, plan)
	if err != nil {
		return err
	}
	defer etcd.Close()

	local := "https://" + net.JoinHostPort(localAPIHost(c.BindAddress), strconv.Itoa(c.HTTPSPort))
	ch, err := startChild(log, l, "kube-apiserver", apiserverArgs(c, l, plan), nil)
	if err != nil {
		return err
	}
	sup.add(ch)
	if err := waitReady(ctx, local, caPEM, sup); err != nil {
		return err
	}
	log.Info("kube-apiserver ready", "url", local)

	if err := writeKubeconfigs(c, l, local, caPEM); err != nil {
		return err
	}
	admin, err := clientFor(c.KubeconfigOut)
	if err != nil {
		return err
	}
	if err := retry(ctx, 30*time.Second, func() error { return publishBootstrap(ctx, admin, l) }); err != nil {
		return err
	}
	for _, comp := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", controllerManagerArgs(c, l)},
		{"kube-scheduler", schedulerArgs(l)},
	} {
		ch, err := startChild(log, l, comp.name, comp.args, nil)
		if err != nil {
			return err
		}
		sup.add(ch)
	}

	node, err := nodeObject(c, reg, c.ClusterInit || joining)
	if err != nil {
		return err
	}
	nodeCS, err := clientFor(l.agent("node.kubeconfig"))
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = registerNode(rctx, log, nodeCS, node)
	cancel()
	if err != nil {
		return err
	}
	if err := startKwok(log, l, sup, c, l.agent("node.kubeconfig")); err != nil {
		return err
	}
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("sd_notify", "err", err)
	}
	log.Info("k3s stand-in server ready", "node", c.NodeName, "kubeconfig", c.KubeconfigOut, "api", local)
	return waitForEnd(ctx, log, sup, etcd.Err())
}

// waitForEnd returns nil on a signal and an error when a child or etcd dies.
func waitForEnd(ctx context.Context, log *slog.Logger, sup *supervisor, etcdErr <-chan error) error {
	select {
	case <-ctx.Done():
		log.Info("signal received, stopping children")
		return nil
	case ch := <-sup.died:
		return fmt.Errorf("%s exited (%v); last log lines:\n%s", ch.name, ch.err, ch.tail(30))
	case err := <-etcdErr:
		return fmt.Errorf("etcd: %w", err)
	}
}

// serverToken picks the token: given, else kept from an earlier start,
// else generated (as k3s does when none is given).
func serverToken(c *Config, l layout) (joinToken, error) {
	if c.Token == "" {
		if b, err := os.ReadFile(l.tokenFile()); err == nil {
			c.Token = string(b)
		} else if !errors.Is(err, os.ErrNotExist) {
			return joinToken{}, fmt.Errorf("read kept token: %w", err)
		}
	}
	if c.Token == "" {
		s, err := randomSecret()
		if err != nil {
			return joinToken{}, err
		}
		c.Token = s
	}
	tok, err := parseToken(c.Token)
	if err != nil {
		return joinToken{}, fmt.Errorf("token: %w", err)
	}
	if err := writeFile(l.tokenFile(), []byte(tok.Secret), 0o600); err != nil {
		return joinToken{}, err
	}
	return tok, nil
}

// joinBootstrap gets the CA material from the server being joined; a
// server restarting with its etcd data already present reuses its copy,
// so it can start while the first server is down.
func joinBootstrap(ctx context.Context, log *slog.Logger, c *Config, l layout, tok joinToken) error {
	if _, err := os.Stat(l.etcdDir() + "/member"); err == nil {
		if _, err := os.Stat(l.tls("server-ca.key")); err == nil {
			return nil
		}
	}
	return retry(ctx, 5*time.Minute, func() error {
		caPEM, err := fetchServerCA(ctx, c.Server, tok)
		if err != nil {
			log.Info("waiting for server to join", "server", c.Server, "err", err)
			return err
		}
		return fetchBootstrap(ctx, c.Server, caPEM, tok, l)
	})
}

// ensureCAs creates the first server's CAs and service-account key once.
func ensureCAs(l layout) error {
	for _, name := range []string{"server-ca", "client-ca", "etcd-ca"} {
		if _, err := os.Stat(l.tls(name + ".crt")); err == nil {
			continue
		}
		ca, err := newCA("k3s-" + name)
		if err != nil {
			return err
		}
		if err := writeFile(l.tls(name+".key"), ca.KeyPEM, 0o600); err != nil {
			return err
		}
		if err := writeFile(l.tls(name+".crt"), ca.CertPEM, 0o644); err != nil {
			return err
		}
	}
	if _, err := os.Stat(l.tls("service.key")); err == nil {
		return nil
	}
	_, keyPEM, err := newKey()
	if err != nil {
		return err
	}
	return writeFile(l.tls("service.key"), keyPEM, 0o600)
}

// permanentError marks an error that retrying cannot fix (a token whose CA
// hash names another cluster), so retry returns it at once.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

// retry calls f every two seconds until it succeeds, fails permanently, or
// limit passes.
func retry(ctx context.Context, limit time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", limit, err)
		case <-t.C:
		}
	}
}

func isLoopback(ip string) bool {
	p := net.ParseIP(ip)
	return p != nil && p.IsLoopback()
}

// localAPIHost is how this host reaches its own API server.
func localAPIHost(bind string) string {
	if p := net.ParseIP(bind); p == nil || p.IsUnspecified() {
		return "127.0.0.1"
	}
	return bind
}
