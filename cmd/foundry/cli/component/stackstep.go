package component

import (
	"context"
	"fmt"
	"strings"

	"github.com/foundry-fleet/foundry/installer/helm"
)

// IsCluster reports whether name is a component Helm installs, so stack
// can send it down this package's Helm path instead of to the agents.
func IsCluster(name string) bool {
	_, ok := clusterComponent(name)
	return ok
}

// ClusterStep is a Helm component's step of stack install and upgrade:
// its release made to run the configured chart and values (a no-op when
// it already does), ready before the next component starts. A dry run
// prints the values with secrets masked and changes nothing.
func ClusterStep(ctx context.Context, e Env, name string, dry bool) (Outcome, error) {
	out := Outcome{Component: name, DryRun: dry}
	c, ok := clusterComponent(name)
	if !ok {
		return out, fmt.Errorf("%s is not a cluster component", name)
	}
	o := &Options{Env: e, Name: name}
	o.DryRun, o.Yes = dry, true
	cfg, err := o.Stack()
	if err != nil {
		return out, err
	}
	if name == "minio" && !cfg.MinIOWanted() {
		out.Notes = append(out.Notes, "minio: not deployed (TrueNAS S3 is configured, or deploy: false)")
		return out, nil
	}
	p, err := o.clusterPlan(ctx, c)
	if err != nil {
		return out, err
	}
	out.Version = p.ver
	if dry {
		return out, clusterDryRun(ctx, o, p, false)
	}
	r, err := o.clusterInstall(ctx, p)
	out.Changed = r.Outcome != helm.Unchanged && r.Outcome != ""
	if err != nil {
		return out, err
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%s %s (chart %s %s): %s, revision %d, %s", name, "release", c.Chart, p.ver, r.Outcome, r.Revision, readySummary(r.Workloads)))
	return out, nil
}

func readySummary(ws []helm.Workload) string {
	ready := 0
	var not []string
	for _, w := range ws {
		if w.Ready {
			ready++
		} else {
			not = append(not, w.Kind+"/"+w.Name)
		}
	}
	s := fmt.Sprintf("%d/%d workloads ready", ready, len(ws))
	if len(not) > 0 {
		s += " (not ready: " + strings.Join(not, ", ") + ")"
	}
	return s
}

// ClusterStatus is a Helm component's row of stack status: its release
// and the readiness of its workloads, read from the cluster now.
func ClusterStatus(ctx context.Context, e Env, name string) (StatusResult, error) {
	out := StatusResult{Component: name}
	c, ok := clusterComponent(name)
	if !ok {
		return out, fmt.Errorf("%s is not a cluster component", name)
	}
	o := &Options{Env: e, Name: name}
	cfg, err := o.Stack()
	if err != nil {
		return out, err
	}
	if name == "minio" && !cfg.MinIOWanted() {
		return out, nil
	}
	out.Desired, _ = chartVersion(cfg, name, "")
	hc, err := o.helmClient(ctx, cfg)
	if err != nil {
		return out, err
	}
	st, err := hc.Status(ctx, c)
	if err != nil {
		// Not installed (or unreadable) is a state to show, not a reason
		// to drop the rest of the table; which of the two it is, is said.
		word := "not installed: "
		if !helm.NotInstalled(err) {
			word = "unreadable: "
		}
		out.Release = &helm.Status{Release: c.Release(), Namespace: c.Namespace, Status: word + firstLine(err.Error())}
		return out, nil
	}
	out.Release = &st
	return out, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
