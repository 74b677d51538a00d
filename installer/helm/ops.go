package helm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// Status is a release as the cluster has it now.
type Status struct {
	Release      string     `json:"release"`
	Namespace    string     `json:"namespace"`
	Revision     int        `json:"revision"`
	Chart        string     `json:"chart"`
	ChartVersion string     `json:"chart_version"`
	AppVersion   string     `json:"app_version"`
	Status       string     `json:"status"`
	Updated      time.Time  `json:"updated"`
	Workloads    []Workload `json:"workloads"`
	Ready        bool       `json:"ready"`
}

// NotInstalled reports whether err (from Status) says the component has
// no release, as opposed to a cluster that could not be read.
func NotInstalled(err error) bool { return errors.Is(err, driver.ErrReleaseNotFound) }

// Status reads comp's release and the readiness of each of its workloads
// now (no waiting).
func (c *Client) Status(ctx context.Context, comp Component) (Status, error) {
	cfg, err := c.action(comp)
	if err != nil {
		return Status{}, err
	}
	rel, err := action.NewStatus(cfg).Run(comp.Release())
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", comp.Release(), err)
	}
	st := Status{Release: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, Status: rel.Info.Status.String(),
		Updated: rel.Info.LastDeployed.Time}
	if m := rel.Chart.Metadata; m != nil {
		st.Chart, st.ChartVersion, st.AppVersion = m.Name, m.Version, m.AppVersion
	}
	cs, err := c.Getter.Clientset()
	if err != nil {
		return st, err
	}
	ws, err := WorkloadsOf(rel.Manifest, comp.Namespace)
	if err != nil {
		return st, err
	}
	st.Ready = rel.Info.Status == release.StatusDeployed
	for _, w := range ws {
		w.Ready, w.Message = currentReadiness(ctx, cs, w)
		st.Ready = st.Ready && w.Ready
		st.Workloads = append(st.Workloads, w)
	}
	return st, nil
}

func currentReadiness(ctx context.Context, cs kubernetes.Interface, w Workload) (bool, string) {
	var obj runtime.Object
	var err error
	get := metav1.GetOptions{}
	switch w.Kind {
	case "Deployment":
		obj, err = cs.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, get)
	case "StatefulSet":
		obj, err = cs.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, get)
	case "DaemonSet":
		obj, err = cs.AppsV1().DaemonSets(w.Namespace).Get(ctx, w.Name, get)
	default:
		obj, err = cs.BatchV1().Jobs(w.Namespace).Get(ctx, w.Name, get)
	}
	if err != nil {
		return false, err.Error()
	}
	ok, msg, _ := Readiness(obj)
	return ok, msg
}

// Revision is one entry of a release's history.
type Revision struct {
	Revision     int       `json:"revision"`
	Updated      time.Time `json:"updated"`
	Status       string    `json:"status"`
	ChartVersion string    `json:"chart_version"`
	AppVersion   string    `json:"app_version"`
	Description  string    `json:"description"`
}

// History lists comp's revisions, oldest first.
func (c *Client) History(_ context.Context, comp Component) ([]Revision, error) {
	cfg, err := c.action(comp)
	if err != nil {
		return nil, err
	}
	h := action.NewHistory(cfg)
	h.Max = 256
	rels, err := h.Run(comp.Release())
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", comp.Release(), err)
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
	out := make([]Revision, 0, len(rels))
	for _, r := range rels {
		rv := Revision{Revision: r.Version, Updated: r.Info.LastDeployed.Time, Status: r.Info.Status.String(), Description: r.Info.Description}
		if r.Chart != nil && r.Chart.Metadata != nil {
			rv.ChartVersion, rv.AppVersion = r.Chart.Metadata.Version, r.Chart.Metadata.AppVersion
		}
		out = append(out, rv)
	}
	return out, nil
}

// Rollback restores revision (0: the one before the current) and waits
// for its workloads.
func (c *Client) Rollback(ctx context.Context, comp Component, revision int) (Result, error) {
	cfg, err := c.action(comp)
	if err != nil {
		return Result{}, err
	}
	rb := action.NewRollback(cfg)
	rb.Version, rb.Timeout, rb.MaxHistory = revision, c.timeout(), 10
	if err := rb.Run(comp.Release()); err != nil {
		return Result{}, fmt.Errorf("roll back %s: %w", comp.Release(), err)
	}
	cur, err := cfg.Releases.Last(comp.Release())
	if err != nil {
		return Result{}, err
	}
	cs, err := c.Getter.Clientset()
	if err != nil {
		return Result{}, err
	}
	res := Result{Release: comp.Release(), Namespace: comp.Namespace, Revision: cur.Version, Outcome: "rolled back"}
	ws, err := WorkloadsOf(cur.Manifest, comp.Namespace)
	if err != nil {
		return res, err
	}
	res.Workloads, err = WaitReady(ctx, cs, comp.Release(), ws, c.timeout())
	return res, err
}

// Uninstall removes comp's release and its history. The namespace stays:
// it may hold PersistentVolumeClaims with data the operator wants back.
func (c *Client) Uninstall(_ context.Context, comp Component) error {
	cfg, err := c.action(comp)
	if err != nil {
		return err
	}
	u := action.NewUninstall(cfg)
	u.Timeout = c.timeout()
	if _, err := u.Run(comp.Release()); err != nil {
		return fmt.Errorf("uninstall %s: %w", comp.Release(), err)
	}
	return nil
}

// Diff renders what an upgrade to ch with resolved values would apply and
// compares it with the deployed manifest, secrets masked in both. A
// component not installed yet diffs against nothing.
func (c *Client) Diff(ctx context.Context, comp Component, ch *chart.Chart, resolved Resolved) (string, error) {
	cfg, err := c.action(comp)
	if err != nil {
		return "", err
	}
	var current string
	if last, err := cfg.Releases.Last(comp.Release()); err == nil {
		current = last.Manifest
		up := action.NewUpgrade(cfg)
		up.Namespace, up.DryRun, up.ResetValues = comp.Namespace, true, true
		rel, err := up.RunWithContext(ctx, comp.Release(), ch, resolved.Values)
		if err != nil {
			return "", fmt.Errorf("render the upgrade of %s: %w", comp.Release(), err)
		}
		return DiffManifests(resolved.Mask(current), resolved.Mask(rel.Manifest), comp.Namespace)
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace, inst.DryRun = comp.Release(), comp.Namespace, true
	rel, err := inst.RunWithContext(ctx, ch, resolved.Values)
	if err != nil {
		return "", fmt.Errorf("render %s: %w", comp.Release(), err)
	}
	return DiffManifests("", resolved.Mask(rel.Manifest), comp.Namespace)
}
