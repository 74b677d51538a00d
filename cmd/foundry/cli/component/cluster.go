package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/installer/helm"
)

// ClusterEnv is what the Helm-installed components need beyond Env. Each
// function is connected by the root command; a nil one makes the verbs
// that need it say so instead of guessing:
//
//	Kubeconfig: kube.Store{Home: home, Bao: bao}.LoadKubeconfig
//	Chart:      the imported chart archive (artifact store or the stack's
//	            registry through helm.PullChart)
//	Secrets:    (*secrets.Resolver).Resolve of secrets.NewResolver (env,
//	            ~/.foundryvars, OpenBAO)
type ClusterEnv struct {
	Kubeconfig func(ctx context.Context, cluster string) ([]byte, error)
	Chart      func(ctx context.Context, chart, version string) ([]byte, error)
	Secrets    helm.SecretLookup
	// Mirror is the registry (host:port) images are pulled through; ""
	// leaves the charts' image references alone.
	Mirror  string
	Timeout time.Duration
	Log     *slog.Logger
}

// clusterComponent reports whether name is installed with Helm.
func clusterComponent(name string) (helm.Component, bool) {
	c, err := helm.Lookup(name)
	return c, err == nil
}

// chartVersion is the chart version to install: --version, else the
// config's.
func chartVersion(cfg *stackconfig.Config, name, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	cs := cfg.Components
	v := map[string]string{}
	if cs.Contour != nil {
		v["contour"] = cs.Contour.Version
	}
	if cs.CertManager != nil {
		v["cert-manager"] = cs.CertManager.Version
	}
	if cs.ExternalDNS != nil {
		v["external-dns"] = cs.ExternalDNS.Version
	}
	if cs.Prometheus != nil {
		v["prometheus"] = cs.Prometheus.Version
	}
	if cs.Loki != nil {
		v["loki"] = cs.Loki.Version
	}
	if cs.Grafana != nil {
		v["grafana"] = cs.Grafana.Version
	}
	if cs.MinIO != nil {
		v["minio"] = cs.MinIO.Version
	}
	if cs.Velero != nil {
		v["velero"] = cs.Velero.Version
	}
	if cs.ArgoCD != nil {
		v["argocd"] = cs.ArgoCD.Version
	}
	if v[name] == "" {
		return "", fmt.Errorf("no chart version for %s; set components.%s.version to the imported chart's version, or pass --version", name, name)
	}
	return v[name], nil
}

// clusterPlan is what install and upgrade share: the component, its
// chart, and its values with references unresolved.
type clusterPlan struct {
	comp   helm.Component
	cfg    *stackconfig.Config
	values helm.Values
	chart  []byte
	ver    string
}

func (o *Options) clusterPlan(ctx context.Context, c helm.Component) (clusterPlan, error) {
	cfg, err := o.Stack()
	if err != nil {
		return clusterPlan{}, err
	}
	if err := configured(cfg, c); err != nil {
		return clusterPlan{}, err
	}
	if c.Name == "minio" && !cfg.MinIOWanted() {
		return clusterPlan{}, fmt.Errorf("minio is not deployed: TrueNAS S3 is configured (or deploy: false); set components.minio.deploy: true to install it anyway")
	}
	ver, err := chartVersion(cfg, c.Name, o.Version)
	if err != nil {
		return clusterPlan{}, err
	}
	values, err := helm.ValuesFor(c.Name, cfg)
	if err != nil {
		return clusterPlan{}, err
	}
	if o.Cluster.Chart == nil {
		return clusterPlan{}, errors.New("this foundry cannot read imported charts yet (no chart source is connected)")
	}
	data, err := o.Cluster.Chart(ctx, c.Chart, ver)
	if err != nil {
		return clusterPlan{}, err
	}
	return clusterPlan{comp: c, cfg: cfg, values: values, chart: data, ver: ver}, nil
}

func (o *Options) helmClient(ctx context.Context, cfg *stackconfig.Config) (*helm.Client, error) {
	if o.Cluster.Kubeconfig == nil {
		return nil, errors.New("this foundry cannot reach the cluster yet (no kubeconfig store is connected)")
	}
	kc, err := o.Cluster.Kubeconfig(ctx, cfg.Cluster.Name)
	if err != nil {
		return nil, err
	}
	g, err := helm.NewGetter(kc, "")
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of cluster %s: %w; run foundry cluster init again to store a fresh one", cfg.Cluster.Name, err)
	}
	if err := reachable(ctx, g); err != nil {
		return nil, fmt.Errorf("the Kubernetes API of cluster %s does not answer (%w); check it with foundry cluster status, then run this again", cfg.Cluster.Name, err)
	}
	return &helm.Client{Getter: g, Log: o.Cluster.Log, Timeout: o.Cluster.Timeout}, nil
}

// reachable asks the API server's /readyz, so a cluster that is down is
// one clear error before anything is read or written, not the first
// failing call of a half-done install.
func reachable(ctx context.Context, g *helm.Getter) error {
	cs, err := g.Clientset()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// resolved resolves the plan's references and adds the mirror overrides.
func (o *Options) resolved(ctx context.Context, p clusterPlan) (helm.Resolved, error) {
	if o.Cluster.Secrets == nil {
		return helm.Resolved{}, errors.New("this foundry cannot resolve secrets for cluster components yet (no resolver is connected)")
	}
	ch, err := helm.LoadChart(p.chart, p.comp.Chart, p.ver)
	if err != nil {
		return helm.Resolved{}, err
	}
	withMirror, err := helm.WithMirror(ch, p.values, o.Cluster.Mirror)
	if err != nil {
		return helm.Resolved{}, err
	}
	return helm.Resolve(ctx, withMirror, o.Cluster.Secrets)
}

// clusterApply is install and upgrade of a Helm component. --dry-run
// resolves no secret: it prints the values with every reference as
// <secret>, and for an upgrade the manifest diff, masked.
func clusterApply(ctx context.Context, o *Options, c helm.Component, upgrade bool) error {
	p, err := o.clusterPlan(ctx, c)
	if err != nil {
		return err
	}
	if o.DryRun {
		return clusterDryRun(ctx, o, p, upgrade)
	}
	if upgrade {
		if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Upgrade %s to chart %s %s?", c.Name, c.Chart, p.ver)); err != nil {
			return err
		}
	}
	r, err := o.clusterInstall(ctx, p)
	if o.JSON {
		if werr := cmdutil.WriteJSON(o.IO.Out, r); werr != nil {
			return werr
		}
	} else if err == nil {
		fmt.Fprintf(o.IO.Out, "%s %s: revision %d, %d workloads ready\n", c.Name, r.Outcome, r.Revision, len(r.Workloads))
	}
	var rb *helm.RolledBackError
	if errors.As(err, &rb) {
		return &cmdutil.ExitCodeError{Code: 3, Err: err}
	}
	return err
}

// clusterInstall resolves the plan's secrets and runs the release's
// install or upgrade, waiting for readiness.
func (o *Options) clusterInstall(ctx context.Context, p clusterPlan) (helm.Result, error) {
	c := p.comp
	ch, err := helm.LoadChart(p.chart, c.Chart, p.ver)
	if err != nil {
		return helm.Result{}, err
	}
	res, err := o.resolved(ctx, p)
	if err != nil {
		return helm.Result{}, err
	}
	hc, err := o.helmClient(ctx, p.cfg)
	if err != nil {
		return helm.Result{}, err
	}
	fmt.Fprintf(o.IO.ErrOut, "installing %s (chart %s %s) into namespace %s\n", c.Name, c.Chart, p.ver, c.Namespace)
	r, err := hc.Install(ctx, c, ch, res.Values)
	if err == nil {
		err = postInstall(ctx, o, hc, p)
	}
	return r, err
}

func clusterDryRun(ctx context.Context, o *Options, p clusterPlan, upgrade bool) error {
	shown := helm.Redacted(p.values)
	b, err := yaml.Marshal(shown)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "# %s: chart %s %s, namespace %s; values (secrets shown as %s):\n%s", p.comp.Name, p.comp.Chart, p.ver, p.comp.Namespace, helm.Masked, b)
	if err := dryRunPostInstall(o, p); err != nil {
		return err
	}
	if !upgrade {
		return nil
	}
	ch, err := helm.LoadChart(p.chart, p.comp.Chart, p.ver)
	if err != nil {
		return err
	}
	res, err := o.resolved(ctx, p)
	if err != nil {
		return err
	}
	hc, err := o.helmClient(ctx, p.cfg)
	if err != nil {
		return err
	}
	d, err := hc.Diff(ctx, p.comp, ch, res)
	if err != nil {
		return err
	}
	if d == "" {
		d = "no changes\n"
	}
	fmt.Fprintf(o.IO.Out, "# diff of the rendered manifests (deployed -> new):\n%s", d)
	return nil
}

func clusterStatus(ctx context.Context, o *Options, c helm.Component) error {
	cfg, err := o.Stack()
	if err != nil {
		return err
	}
	if err := configured(cfg, c); err != nil {
		return err
	}
	hc, err := o.helmClient(ctx, cfg)
	if err != nil {
		return err
	}
	st, err := hc.Status(ctx, c)
	if helm.NotInstalled(err) {
		// The stack page must not keep showing a release that is gone.
		reportRelease(ctx, o, cfg, helm.Status{Release: c.Release(), Namespace: c.Namespace, Status: "not installed"})
	}
	if err != nil {
		return err
	}
	reportRelease(ctx, o, cfg, st)
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, st)
	}
	fmt.Fprintf(o.IO.Out, "%s: %s, revision %d, chart %s %s (app %s)\n", st.Release, st.Status, st.Revision, st.Chart, st.ChartVersion, st.AppVersion)
	t := cmdutil.NewTable(o.IO, "WORKLOAD", "READY", "DETAIL")
	for _, w := range st.Workloads {
		t.Row(w.Kind+"/"+w.Name, map[bool]string{true: "yes", false: "no"}[w.Ready], w.Message)
	}
	return t.Render()
}

// reportRelease tells the controller what status saw, for the web view,
// when this CLI knows how to reach it; it never fails the status.
func reportRelease(ctx context.Context, o *Options, cfg *stackconfig.Config, st helm.Status) {
	if o.Connect == nil {
		return
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		if o.Log != nil {
			o.Log.Warn("the web view's stack page was not updated with this status: the controller is not reachable", "err", err)
		}
		return
	}
	defer cl.Close()
	desired, _ := chartVersion(cfg, o.Name, "")
	r := StatusResult{Component: o.Name, Desired: desired, Release: &st}
	ReportCluster(ctx, o.Env, cl, ClusterReport(cfg.Cluster.Name, []StatusResult{r}, time.Now()))
}

func clusterUninstall(ctx context.Context, o *Options, c helm.Component) error {
	cfg, err := o.Stack()
	if err != nil {
		return err
	}
	if err := configured(cfg, c); err != nil {
		return err
	}
	what := fmt.Sprintf("uninstall the %s release from namespace %s (the namespace and its volumes stay)", c.Name, c.Namespace)
	if o.DryRun {
		fmt.Fprintln(o.IO.Out, "would "+what)
		return nil
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, "Uninstall "+c.Name+"?"); err != nil {
		return err
	}
	hc, err := o.helmClient(ctx, cfg)
	if err != nil {
		return err
	}
	if !o.Force {
		if users := installedDependents(ctx, hc, c.Name); len(users) > 0 {
			return fmt.Errorf("%s is needed by %s, which %s installed; uninstall %s first, or pass --force",
				c.Name, strings.Join(users, ", "), map[bool]string{true: "is", false: "are"}[len(users) == 1], strings.Join(users, ", "))
		}
	}
	if err := hc.Uninstall(ctx, c); err != nil {
		return err
	}
	reportRelease(ctx, o, cfg, helm.Status{Release: c.Release(), Namespace: c.Namespace, Status: "not installed: uninstalled by foundry component uninstall"})
	fmt.Fprintf(o.IO.Out, "%s uninstalled\n", c.Name)
	return nil
}

// installedDependents lists the cluster components that need name (by the
// stack's dependency table) and have a release in the cluster now. A
// requirement with alternatives (velero: minio or TrueNAS) counts too:
// removing MinIO under Velero breaks its backups either way.
func installedDependents(ctx context.Context, hc *helm.Client, name string) []string {
	var out []string
	for user, reqs := range stackconfig.DefaultDependencies() {
		c, ok := clusterComponent(user)
		if !ok {
			continue
		}
		for _, r := range reqs {
			if !slices.Contains(r, name) {
				continue
			}
			if _, err := hc.Status(ctx, c); err == nil {
				out = append(out, user)
			}
			break
		}
	}
	sort.Strings(out)
	return out
}

// Run runs one component verb (install, upgrade, status, uninstall) with
// o, as `stack` runs a verb per component and tests drive the verbs with
// fake IO.
func Run(ctx context.Context, verb string, o *Options) error {
	switch verb {
	case "install":
		return installRun(ctx, o)
	case "upgrade":
		return upgradeRun(ctx, o)
	case "status":
		return statusRun(ctx, o)
	case "uninstall":
		return uninstallRun(ctx, o)
	}
	return fmt.Errorf("component has no verb %q", verb)
}

// configured refuses a component the stack config does not name: what
// Foundry installs, reports and removes is what the config says.
func configured(cfg *stackconfig.Config, c helm.Component) error {
	if !cfg.Configured()[c.Name] {
		return fmt.Errorf("%s is not in the stack config; add components.%s (see foundry config init)", c.Name, c.Name)
	}
	return nil
}
