package helm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultTimeout bounds hooks and the readiness wait of one release.
const DefaultTimeout = 5 * time.Minute

// Client installs and inspects the cluster components' releases on one
// cluster.
type Client struct {
	Getter  *Getter
	Log     *slog.Logger
	Timeout time.Duration // 0: DefaultTimeout
}

// Outcome says what Install did.
type Outcome string

const (
	Installed Outcome = "installed"
	Upgraded  Outcome = "upgraded"
	Unchanged Outcome = "unchanged"
)

// Result is an Install's outcome and the readiness it waited for.
type Result struct {
	Release   string     `json:"release"`
	Namespace string     `json:"namespace"`
	Revision  int        `json:"revision"`
	Outcome   Outcome    `json:"outcome"`
	Workloads []Workload `json:"workloads"`
}

// RolledBackError is an upgrade whose workloads did not become ready and
// that was rolled back to the revision before it.
type RolledBackError struct {
	Release        string
	FailedRevision int
	RestoredTo     int // the new revision holding the previous release's spec
	Previous       int // the revision that was restored
	Cause          error
	RollbackErr    error // non-nil when the rollback itself failed
}

func (e *RolledBackError) Error() string {
	if e.RollbackErr != nil {
		return fmt.Sprintf("upgrade of %s (revision %d) failed: %v; rolling back to revision %d failed too: %v; run `foundry component status %s` and roll back by hand",
			e.Release, e.FailedRevision, e.Cause, e.Previous, e.RollbackErr, e.Release)
	}
	return fmt.Sprintf("upgrade of %s (revision %d) failed and was rolled back to revision %d (now revision %d): %v",
		e.Release, e.FailedRevision, e.Previous, e.RestoredTo, e.Cause)
}

func (e *RolledBackError) Unwrap() error { return e.Cause }

// OpError is a Helm install or upgrade that failed before readiness was
// waited for (a hook that timed out, a manifest the API refused). Helm
// joins several causes with newlines; the message is one line, so a
// stack summary stays a table.
type OpError struct {
	Op, Release, Namespace string
	Err                    error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("%s of %s failed: %s; see foundry component status %s and the events in namespace %s, fix the cause and run the install again",
		e.Op, e.Release, oneLine(e.Err.Error()), e.Release, e.Namespace)
}

func (e *OpError) Unwrap() error { return e.Err }

// oneLine folds a multi-line error (Helm's "1 error occurred:\n\t* …")
// into one line.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "error occurred:\n\t* ", "error occurred: ")
	s = strings.ReplaceAll(s, "errors occurred:\n\t* ", "errors occurred: ")
	s = strings.ReplaceAll(s, "\n\t* ", "; ")
	return strings.Join(strings.Fields(s), " ")
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Client) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// action binds Helm to comp's namespace, where its release records live.
func (c *Client) action(comp Component) (*action.Configuration, error) {
	cfg := &action.Configuration{}
	log := c.log().With("release", comp.Release())
	if err := cfg.Init(c.Getter.ForNamespace(comp.Namespace), comp.Namespace, "secret", func(format string, v ...any) {
		log.Debug(fmt.Sprintf(format, v...))
	}); err != nil {
		return nil, fmt.Errorf("helm for %s: %w", comp.Name, err)
	}
	return cfg, nil
}

// Install makes comp's release run chart ch with values, as `helm upgrade
// --install` would, then waits until its workloads are ready. A release
// already deployed with the same chart version and values is left alone
// (no new revision). An upgrade whose workloads do not become ready is
// rolled back to the revision before it (a *RolledBackError).
func (c *Client) Install(ctx context.Context, comp Component, ch *chart.Chart, values Values) (Result, error) {
	cfg, err := c.action(comp)
	if err != nil {
		return Result{}, err
	}
	cs, err := c.Getter.Clientset()
	if err != nil {
		return Result{}, err
	}
	if err := ensureNamespace(ctx, cs, comp.Namespace); err != nil {
		return Result{}, err
	}
	last, err := cfg.Releases.Last(comp.Release())
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return Result{}, fmt.Errorf("read release %s: %w", comp.Release(), err)
	}
	if last != nil && last.Info.Status.IsPending() {
		if last, err = c.recover(cfg, comp, last); err != nil {
			return Result{}, err
		}
	}
	res := Result{Release: comp.Release(), Namespace: comp.Namespace}
	var rel *release.Release
	switch {
	case last == nil:
		inst := action.NewInstall(cfg)
		inst.ReleaseName, inst.Namespace, inst.CreateNamespace = comp.Release(), comp.Namespace, true
		inst.Timeout = c.timeout()
		c.log().Info("installing", "release", comp.Release(), "chart", ch.Metadata.Version)
		rel, err = inst.RunWithContext(ctx, ch, values)
		res.Outcome = Installed
	case last.Info.Status == release.StatusDeployed && Same(last, ch, values):
		rel, res.Outcome = last, Unchanged
	default:
		up := action.NewUpgrade(cfg)
		up.Namespace, up.Timeout, up.MaxHistory, up.ResetValues = comp.Namespace, c.timeout(), 10, true
		c.log().Info("upgrading", "release", comp.Release(), "from", last.Version, "chart", ch.Metadata.Version)
		rel, err = up.RunWithContext(ctx, comp.Release(), ch, values)
		res.Outcome = Upgraded
	}
	// Only a release that was deployed has a revision to go back to; an
	// upgrade of a failed first install stays failed, to be fixed forward.
	canRollBack := res.Outcome == Upgraded && last.Info.Status == release.StatusDeployed
	if err != nil {
		if canRollBack && rel != nil {
			return res, c.rollBack(ctx, cfg, cs, comp, last, rel.Version, err)
		}
		return res, &OpError{Op: map[Outcome]string{Installed: "install", Upgraded: "upgrade"}[res.Outcome], Release: comp.Release(), Namespace: comp.Namespace, Err: err}
	}
	res.Revision = rel.Version
	ws, err := WorkloadsOf(rel.Manifest, comp.Namespace)
	if err != nil {
		return res, err
	}
	res.Workloads, err = WaitReady(ctx, cs, comp.Release(), ws, c.timeout())
	if err != nil && canRollBack {
		return res, c.rollBack(ctx, cfg, cs, comp, last, rel.Version, err)
	}
	return res, err
}

// rollBack restores the revision before a failed upgrade and waits for it.
func (c *Client) rollBack(ctx context.Context, cfg *action.Configuration, cs kubernetes.Interface, comp Component, prev *release.Release, failed int, cause error) error {
	e := &RolledBackError{Release: comp.Release(), FailedRevision: failed, Previous: prev.Version, Cause: cause}
	c.log().Warn("upgrade not ready; rolling back", "release", comp.Release(), "failed", failed, "to", prev.Version, "err", cause)
	rb := action.NewRollback(cfg)
	rb.Version, rb.Timeout, rb.MaxHistory = prev.Version, c.timeout(), 10
	if err := rb.Run(comp.Release()); err != nil {
		e.RollbackErr = err
		return e
	}
	cur, err := cfg.Releases.Last(comp.Release())
	if err != nil {
		e.RollbackErr = err
		return e
	}
	e.RestoredTo = cur.Version
	ws, err := WorkloadsOf(cur.Manifest, comp.Namespace)
	if err == nil {
		_, err = WaitReady(ctx, cs, comp.Release(), ws, c.timeout())
	}
	if err != nil {
		e.RollbackErr = fmt.Errorf("the restored revision is not ready either: %w", err)
	}
	return e
}

// Same reports whether rel already runs ch's name and version with
// values. Values are compared after a JSON round trip, as Helm stores
// them, so 1 and 1.0 are equal.
func Same(rel *release.Release, ch *chart.Chart, values Values) bool {
	if rel.Chart == nil || rel.Chart.Metadata == nil ||
		rel.Chart.Metadata.Name != ch.Metadata.Name || rel.Chart.Metadata.Version != ch.Metadata.Version {
		return false
	}
	return reflect.DeepEqual(normalize(rel.Config), normalize(values))
}

func normalize(v map[string]any) any {
	if len(v) == 0 {
		return map[string]any{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "foundry"}}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

// recover clears a release left pending by a run that died mid-way (Helm
// refuses any operation on it): a pending install is removed, to be
// installed afresh; a pending upgrade or rollback is rolled back to the
// last deployed revision. Foundry runs one operation per release at a
// time, so a pending record found here is an interrupted one. It returns
// the release to continue from (nil: none).
func (c *Client) recover(cfg *action.Configuration, comp Component, last *release.Release) (*release.Release, error) {
	hist, err := cfg.Releases.History(comp.Release())
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", comp.Release(), err)
	}
	var deployed *release.Release
	for _, r := range hist {
		if r.Version < last.Version && (r.Info.Status == release.StatusDeployed || r.Info.Status == release.StatusSuperseded) &&
			(deployed == nil || r.Version > deployed.Version) {
			deployed = r
		}
	}
	if deployed == nil {
		c.log().Warn("removing a release left pending by an interrupted run", "release", comp.Release(), "status", last.Info.Status, "revision", last.Version)
		u := action.NewUninstall(cfg)
		u.Timeout = c.timeout()
		if _, err := u.Run(comp.Release()); err != nil {
			return nil, fmt.Errorf("%s was left %s by an interrupted run and could not be removed: %w; run `helm uninstall %s -n %s`", comp.Release(), last.Info.Status, err, comp.Release(), comp.Namespace)
		}
		return nil, nil
	}
	c.log().Warn("rolling back a release left pending by an interrupted run", "release", comp.Release(), "status", last.Info.Status, "revision", last.Version, "to", deployed.Version)
	rb := action.NewRollback(cfg)
	rb.Version, rb.Timeout, rb.MaxHistory = deployed.Version, c.timeout(), 10
	if err := rb.Run(comp.Release()); err != nil {
		return nil, fmt.Errorf("%s was left %s by an interrupted run and rolling back to revision %d failed: %w", comp.Release(), last.Info.Status, deployed.Version, err)
	}
	cur, err := cfg.Releases.Last(comp.Release())
	if err != nil {
		return nil, fmt.Errorf("read release %s: %w", comp.Release(), err)
	}
	return cur, nil
}
