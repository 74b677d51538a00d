package component

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/foundry-fleet/foundry/controller/client"
	comp "github.com/foundry-fleet/foundry/controller/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/messages"
)

// EnvRegistry overrides where the stack's registry is (host:port), for a
// registry reached through another address than its host's, such as a
// load balancer or a tunnel.
const EnvRegistry = "FOUNDRY_REGISTRY"

// ErrNoRegistry means the stack has no registry Foundry knows how to
// reach; callers that can do without one (chart installs) go on.
var ErrNoRegistry = errors.New("the stack has no registry")

// RegistryFor is the stack's registry as Foundry installs it: the first of
// components.zot.hosts at the address it was added with, port 5000,
// plain HTTP (the registry's config has no TLS; it serves the cluster
// network). addresses maps host IDs to those addresses.
func RegistryFor(cfg *stackconfig.Config, addresses map[string]string) (helm.Registry, error) {
	z := cfg.Components.Zot
	if z == nil || len(z.Hosts) == 0 {
		return helm.Registry{}, fmt.Errorf("%w: add components.zot with its hosts to the stack config, or set %s=host:port", ErrNoRegistry, EnvRegistry)
	}
	id, err := messages.HostIDFromName(z.Hosts[0])
	if err != nil {
		return helm.Registry{}, fmt.Errorf("components.zot.hosts[0]: %w; run foundry config validate", err)
	}
	addr := addresses[id]
	if addr == "" {
		return helm.Registry{}, fmt.Errorf("%w: the registry host %s is not a Foundry host with a known address; run foundry host add for it, or set %s=host:port", ErrNoRegistry, z.Hosts[0], EnvRegistry)
	}
	return helm.Registry{Host: net.JoinHostPort(addr, strconv.Itoa(comp.RegistryPort)), PlainHTTP: true}, nil
}

// StackRegistry finds the stack's registry: $FOUNDRY_REGISTRY, else
// RegistryFor with the host addresses cl knows. cl may be nil when the
// caller has not connected (it then connects, only if it must).
func (e Env) StackRegistry(ctx context.Context, cl *client.Client) (helm.Registry, error) {
	if e.Getenv != nil {
		if h := e.Getenv(EnvRegistry); h != "" {
			if _, _, err := net.SplitHostPort(h); err != nil {
				return helm.Registry{}, fmt.Errorf("%s=%q: %w; set it to host:port", EnvRegistry, h, err)
			}
			return helm.Registry{Host: h, PlainHTTP: true}, nil
		}
	}
	cfg, err := e.Stack()
	if err != nil {
		return helm.Registry{}, err
	}
	if z := cfg.Components.Zot; z == nil || len(z.Hosts) == 0 {
		return RegistryFor(cfg, nil)
	}
	if cl == nil {
		if cl, err = e.Connect(ctx); err != nil {
			return helm.Registry{}, err
		}
		defer cl.Close()
	}
	list, err := cl.HostList(ctx)
	if err != nil {
		return helm.Registry{}, fmt.Errorf("list hosts to find the registry: %w", err)
	}
	addrs := map[string]string{}
	for _, h := range list.Hosts {
		addrs[h.ID] = h.Address
	}
	return RegistryFor(cfg, addrs)
}
