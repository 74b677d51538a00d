package cluster

import (
	"context"

	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/messages"
)

// StackInstall is K3s's step of `stack install`: cluster init over every
// configured node, reported like a component.
func StackInstall(ctx context.Context, e Env, dry bool) (clicomp.Outcome, error) {
	res, err := initCluster(ctx, &InitOptions{Env: e, DryRun: dry, Timeout: defaultWait})
	out := clicomp.Outcome{Component: messages.K3sComponent, DryRun: dry, Changed: res.Changed, Hosts: res.Hosts, Notes: res.Notes}
	if res.API != "" && !dry {
		out.Notes = append(out.Notes, "API "+res.API+"; kubeconfig in "+res.Kubeconfig)
	}
	return out, err
}

// StackStatus is K3s's row of `stack status`: the k3s service on every
// configured node, as each agent reports it.
func StackStatus(ctx context.Context, e Env) (clicomp.StatusResult, error) {
	s, err := e.open(ctx)
	if err != nil {
		return clicomp.StatusResult{Component: messages.K3sComponent}, err
	}
	defer s.close()
	p, err := s.plan(false)
	if err != nil {
		return clicomp.StatusResult{Component: messages.K3sComponent}, err
	}
	var hosts []string
	for _, n := range p.Nodes {
		hosts = append(hosts, n.Host)
	}
	return statusOnHosts(ctx, e, s, p, hosts, comp.Component{Name: messages.K3sComponent})
}
