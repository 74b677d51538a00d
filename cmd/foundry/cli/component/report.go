package component

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// ClusterReport is the cluster part of a status run, for the controller:
// the controller cannot read the cluster (it holds no kubeconfig and
// links no Kubernetes client), so the web view shows what the last status
// run reported. Only results with a Helm release are in it; host
// services are in the controller's job records already.
func ClusterReport(cluster string, rs []StatusResult, checked time.Time) []messages.ClusterComponentStatus {
	var out []messages.ClusterComponentStatus
	for _, r := range rs {
		rel := r.Release
		if rel == nil {
			continue
		}
		s := messages.ClusterComponentStatus{Component: r.Component, Cluster: cluster, Release: rel.Release, Namespace: rel.Namespace,
			Revision: rel.Revision, Chart: rel.Chart, ChartVersion: rel.ChartVersion, AppVersion: rel.AppVersion, Desired: r.Desired,
			Status: rel.Status, Healthy: r.Healthy(), Workloads: len(rel.Workloads), CheckedAt: checked.UnixMilli()}
		var not []string
		for _, w := range rel.Workloads {
			if w.Ready {
				s.WorkloadsReady++
			} else {
				not = append(not, w.Kind+"/"+w.Name)
			}
		}
		s.NotReady = strings.Join(not, ",")
		out = append(out, CleanReport(s))
	}
	return out
}

// CleanReport fits every text of s to what the controller accepts (one
// short line), so a long Helm error does not lose the whole report.
func CleanReport(s messages.ClusterComponentStatus) messages.ClusterComponentStatus {
	for _, f := range []*string{&s.Cluster, &s.Release, &s.Namespace, &s.Chart, &s.ChartVersion, &s.AppVersion, &s.Desired, &s.Status, &s.NotReady} {
		*f = oneLine(*f)
	}
	if len(s.Nodes) > messages.MaxStackReportNodes {
		s.Nodes = s.Nodes[:messages.MaxStackReportNodes]
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		n.Name, n.Roles, n.Version, n.Problem = oneLine(n.Name), oneLine(n.Roles), oneLine(n.Version), oneLine(n.Problem)
	}
	return s
}

// oneLine replaces control characters with spaces and clips s to 256
// bytes on a rune boundary, ending in "..." when clipped.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	const limit = 256
	if len(s) <= limit {
		return s
	}
	cut := limit - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// ReportCluster sends a status run's cluster part to the controller for
// the web view. It never fails the status run: a read-only operator may
// not report (admins only: every viewer believes a report), which is
// logged at debug level; any other failure is a warning.
func ReportCluster(ctx context.Context, e Env, cl *client.Client, comps []messages.ClusterComponentStatus) {
	if len(comps) == 0 || cl == nil {
		return
	}
	log := e.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := cl.ReportStack(ctx, messages.StackReport{Components: comps})
	switch {
	case err == nil:
		log.Debug("cluster status reported to the controller", "components", len(comps))
	case client.IsForbidden(err):
		log.Debug("cluster status not reported to the controller: a read-only operator may not report", "err", err)
	default:
		log.Warn("the web view's stack page was not updated with this cluster status; it shows the previous one", "err", err)
	}
}
