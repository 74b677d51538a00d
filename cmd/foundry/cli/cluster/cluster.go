// Package cluster is `foundry cluster`: K3s installed and joined by the
// agents (init, node add, node remove), and the cluster read back through
// client-go (node list, status).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/controller/client"
	comp "github.com/foundry-fleet/foundry/controller/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/k3s"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// NewCmdCluster is the `cluster` noun.
func NewCmdCluster(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Install K3s on the stack's hosts and manage its nodes"}
	node := &cobra.Command{Use: "node", Short: "Add, remove and list the cluster's nodes"}
	node.AddCommand(NewCmdNodeAdd(f, nil), NewCmdNodeRemove(f, nil), NewCmdNodeList(f, nil))
	cmd.AddCommand(NewCmdInit(f, nil), node, NewCmdStatus(f, nil))
	return cmd
}

// Env is what every cluster verb needs: the component verbs' environment
// (IO, controller, stack config) plus where the cluster's secrets live.
type Env struct {
	clicomp.Env
	// Store opens the kubeconfig and token store for the stack.
	Store func(cfg *stackconfig.Config) (*kube.Store, error)
}

// NewEnv wires the real dependencies.
func NewEnv(f *cmdutil.Factory) Env {
	e := Env{Env: clicomp.NewEnv(f)}
	e.Store = func(cfg *stackconfig.Config) (*kube.Store, error) { return openStore(e.Env, cfg) }
	return e
}

func openStore(e clicomp.Env, cfg *stackconfig.Config) (*kube.Store, error) {
	home, err := e.Home()
	if err != nil {
		return nil, err
	}
	st, _, err := kube.OpenStore(home, cfg, e.Getenv, clicomp.OpenBAOCAFile(e))
	return st, err
}

// session is what a verb works with once the config is read and the
// controller reached.
type session struct {
	cfg   *stackconfig.Config
	cl    *client.Client
	hosts map[string]messages.HostRecord
	store *kube.Store
}

func (e Env) open(ctx context.Context) (*session, error) {
	cfg, err := e.Stack()
	if err != nil {
		return nil, err
	}
	if cfg.Components.K3s == nil {
		return nil, errors.New("the stack config has no components.k3s; add it (k3s: {} takes the defaults) and run foundry config validate")
	}
	st, err := e.Store(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := e.Connect(ctx)
	if err != nil {
		return nil, err
	}
	list, err := cl.HostList(ctx)
	if err != nil {
		cl.Close()
		return nil, err
	}
	s := &session{cfg: cfg, cl: cl, store: st, hosts: map[string]messages.HostRecord{}}
	for _, h := range list.Hosts {
		s.hosts[h.ID] = h
	}
	return s, nil
}

func (s *session) close() { s.cl.Close() }

// addresses maps each registered host to the address it was added with.
func (s *session) addresses() map[string]string {
	out := map[string]string{}
	for id, h := range s.hosts {
		if h.Address != "" {
			out[id] = h.Address
		}
	}
	return out
}

// mirror is the stack registry's host:port for registries.yaml, or ""
// when the stack has no registry on a known host.
func (s *session) mirror() string {
	z := s.cfg.Components.Zot
	if z == nil || len(z.Hosts) == 0 {
		return ""
	}
	id, err := messages.HostIDFromName(z.Hosts[0])
	if err != nil {
		return ""
	}
	addr := s.hosts[id].Address
	if addr == "" {
		return ""
	}
	return net.JoinHostPort(addr, strconv.Itoa(comp.RegistryPort))
}

// plan reads the cluster from the config and checks every node is a
// Foundry host: K3s goes on through the agent, so there must be one.
func (s *session) plan(single bool) (k3s.Plan, error) {
	p, err := k3s.NewPlan(s.cfg, k3s.Options{SingleNode: single, Addresses: s.addresses(), Mirror: s.mirror()})
	if err != nil {
		return p, err
	}
	for _, n := range p.Nodes {
		if _, ok := s.hosts[n.Host]; !ok {
			return p, fmt.Errorf("host %s is in cluster.nodes but is not a Foundry host; run foundry host add %s first", n.Host, n.Address)
		}
	}
	return p, nil
}

// artifact resolves the k3s binary to install: the configured version,
// else the newest imported.
func (s *session) artifact(ctx context.Context) (string, messages.ArtifactRef, error) {
	arts, err := s.cl.ListArtifacts(ctx, messages.ArtifactListRequest{})
	if err != nil {
		return "", messages.ArtifactRef{}, err
	}
	v := s.cfg.Components.K3s.Version
	if v == "" {
		v = comp.Newest(arts.Artifacts, messages.K3sComponent, "k3s")
		if v == "" {
			return "", messages.ArtifactRef{}, errors.New("no k3s artifact is imported; run foundry artifact import k3s <version> <path to the k3s binary>")
		}
	}
	for _, a := range arts.Artifacts {
		if a.Component == messages.K3sComponent && a.Version == v && a.File == "k3s" {
			if !a.Verified {
				return "", messages.ArtifactRef{}, fmt.Errorf("artifact %s is not usable (%s); import it again", a.ObjectName(), a.Problem)
			}
			return v, a.ArtifactRef, nil
		}
	}
	return "", messages.ArtifactRef{}, fmt.Errorf("k3s %s is not imported; run foundry artifact import k3s %s <path to the k3s binary>", v, v)
}

// kubeClient opens the cluster's API with the stored kubeconfig.
func (s *session) kubeClient(ctx context.Context, name string) (*kube.Client, error) {
	kc, err := s.store.LoadKubeconfig(ctx, name)
	if err != nil {
		return nil, err
	}
	return kube.New(kc)
}

func clusterName(cfg *stackconfig.Config) string {
	if cfg.Cluster.Name == "" {
		return "default"
	}
	return cfg.Cluster.Name
}

// notFound says the store has no such secret yet (as opposed to a store
// that cannot be read).
func notFound(err error) bool {
	return errors.Is(err, secrets.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}
