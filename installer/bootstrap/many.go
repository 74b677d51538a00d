package bootstrap

import (
	"context"
	"sync"
)

// AddMany runs Add for every host with at most parallel at a time and
// returns the results in input order. One host's failure never stops the
// others.
func AddMany(ctx context.Context, hosts []Options, parallel int) []Result {
	if parallel < 1 {
		parallel = 1
	}
	out := make([]Result, len(hosts))
	// Hash each distinct agent binary and build its package once (per
	// architecture), not once per host.
	sums := map[*byte]string{}
	type pkgKey struct {
		bin     *byte
		version string
	}
	pkgs := map[pkgKey]*packages{}
	for i := range hosts {
		if hosts[i].AgentSHA256 == "" && len(hosts[i].AgentBinary) > 0 {
			k := &hosts[i].AgentBinary[0]
			if sums[k] == "" {
				sums[k] = sha(hosts[i].AgentBinary)
			}
			hosts[i].AgentSHA256 = sums[k]
		}
		if hosts[i].pkgs == nil && len(hosts[i].AgentBinary) > 0 {
			k := pkgKey{&hosts[i].AgentBinary[0], hosts[i].AgentVersion}
			if pkgs[k] == nil {
				pkgs[k] = newPackages(hosts[i].AgentBinary, hosts[i].AgentVersion)
			}
			hosts[i].pkgs = pkgs[k]
		}
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = Result{ID: hosts[i].ID, Address: hosts[i].Address, Error: "not started: " + ctx.Err().Error()}
				return
			}
			defer func() { <-sem }()
			out[i] = Add(ctx, hosts[i])
		}()
	}
	wg.Wait()
	return out
}
