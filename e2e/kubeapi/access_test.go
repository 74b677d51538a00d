package kubeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/rbac"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/installer/access"
	"github.com/foundry-fleet/foundry/installer/kube"
)

// startServerOnly runs the stand-in's server alone: users, bindings and
// certificate signing need the API server and the controller-manager,
// not nodes.
func startServerOnly(ctx context.Context, t *testing.T) *standin {
	bin := harness.K3sStandin(t)
	s := &standin{dir: t.TempDir(), serverIP: loopback(loopbackBase() + 2)}
	port := freePort(t, s.serverIP)
	s.server = s.serverIP + ":" + strconv.Itoa(port)
	s.rawKC = filepath.Join(s.dir, "k3s.yaml")
	sd := filepath.Join(s.dir, "server")
	writeFile(t, filepath.Join(sd, "config.yaml"), fmt.Sprintf("node-name: access-server\nnode-ip: %s\nbind-address: %s\nhttps-listen-port: %d\ncluster-init: true\n",
		s.serverIP, s.serverIP, port))
	s.procs = append(s.procs, startProc(t, s.dir, "server", bin, "server",
		"--config", filepath.Join(sd, "config.yaml"), "--data-dir", filepath.Join(sd, "data"),
		"--standin-registries", filepath.Join(sd, "registries.yaml"),
		"--standin-kubeconfig", s.rawKC))
	waitFor(ctx, t, "the server's kubeconfig", s.procs, func() error { _, err := os.Stat(s.rawKC); return err })
	return s
}

// accessEnv is a cluster (the stand-in), an OpenBAO (the TEST DOUBLE,
// in-process) and a Foundry controller (real, embedded NATS), wired into
// the rbac verbs as the CLI wires them, with the admin kubeconfig.
type accessEnv struct {
	admin    *kube.Client
	bao      *secrets.BaoClient
	baoURL   string
	ctl      *controller.Controller
	deps     rbac.Deps
	readOnly rbac.Deps
}

func newAccessEnv(ctx context.Context, t *testing.T) *accessEnv {
	s := startServerOnly(ctx, t)
	raw, err := os.ReadFile(s.rawKC)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kube.ForCluster(raw, s.server, "standin")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kube.New(kc)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh cluster's edit, admin and view roles are empty until the
	// controller-manager's aggregation controller has filled them.
	waitFor(ctx, t, "the aggregated ClusterRoles edit and view to have rules", s.procs, func() error {
		for _, r := range []string{"edit", "view"} {
			cr, err := admin.Kube.RbacV1().ClusterRoles().Get(ctx, r, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(cr.Rules) == 0 {
				return fmt.Errorf("ClusterRole %s has no rules yet", r)
			}
		}
		return nil
	})

	const root = "root-token-of-the-double"
	ts := httptest.NewServer(openbao.NewDev(root).Handler())
	t.Cleanup(ts.Close)
	bao, err := secrets.NewBaoClient(secrets.BaoOptions{Address: ts.URL, Token: root})
	if err != nil {
		t.Fatal(err)
	}
	e := &accessEnv{admin: admin, bao: bao, baoURL: ts.URL, ctl: ct.StartController(t)}
	open := func(context.Context) (*access.Manager, error) {
		return &access.Manager{Kube: admin.Kube, REST: admin.REST, Cluster: "standin", Bao: bao}, nil
	}
	connect := ct.ConnectFunc(t, e.ctl)
	e.deps = rbac.Deps{Access: open, RequireAdmin: func(ctx context.Context) error { return rbac.RequireAdmin(ctx, connect) }}
	acl, err := connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer acl.Close()
	creds := ct.CreateOperator(t, acl, "viewer", controller.RoleReadOnly)
	viewer := func(context.Context) (*client.Client, error) { return ct.ClientAs(t, e.ctl, creds) }
	e.readOnly = rbac.Deps{Access: open, RequireAdmin: func(ctx context.Context) error { return rbac.RequireAdmin(ctx, viewer) }}
	return e
}

// rbacCLI runs `foundry rbac <args>` with the given dependencies, stdin
// and no terminal, and returns stdout.
func rbacCLI(ctx context.Context, d rbac.Deps, stdin string, args ...string) (string, error) {
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	cmd := rbac.NewCmdRbacWith(&cmdutil.Factory{IO: ios}, d)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// TestRbacUsersAgainstStandin: `rbac user create alice --namespace team-a
// --role edit` gives alice a kubeconfig (a certificate the cluster signed
// through the CSR API) that the real API server lets create a Deployment
// in team-a and refuses in kube-system; `rbac user grant` widens it;
// `rbac serviceaccount create` makes an account whose token the cluster
// fills; `rbac list` shows OpenBAO's and Kubernetes' sides; a read-only
// operator is refused; bad input and a failure half-way leave nothing.
func TestRbacUsersAgainstStandin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := newAccessEnv(ctx, t)
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := e.admin.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	out, err := rbacCLI(ctx, e.deps, "alices-password\n", "user", "create", "alice", "--namespace", "team-a", "--role", "edit", "--password-stdin", "--yes")
	if err != nil {
		t.Fatalf("user create: %v", err)
	}
	if strings.Contains(out, "alices-password") || strings.Contains(out, "BEGIN") {
		t.Fatalf("user create printed a secret:\n%s", out)
	}
	if f := strings.Split(strings.TrimSpace(out), "\t"); len(f) != 4 || f[0] != "alice" || f[2] != "foundry-user-alice-edit" || f[3] != "users/alice/credentials" {
		t.Fatalf("user create output %q", out)
	}

	// Alice logs in to OpenBAO with her password; her token reads her own
	// credentials and nothing else.
	aliceBao := loginUserpass(ctx, t, e, "alice", "alices-password")
	cred, err := aliceBao.KVGet(ctx, "users/alice/credentials")
	if err != nil {
		t.Fatalf("alice reads her own credentials: %v", err)
	}
	if _, has := cred.Data["password"]; has {
		t.Fatal("a password given on stdin was stored")
	}
	if _, err := aliceBao.KVGet(ctx, "foundry/other"); !errors.Is(err, secrets.ErrPermissionDenied) {
		t.Fatalf("alice read outside her path: %v", err)
	}
	kc, _ := cred.Data["kubeconfig"].(string)
	alice, err := kube.New([]byte(kc))
	if err != nil {
		t.Fatalf("alice's kubeconfig: %v", err)
	}

	t.Run("AliceCreatesInTeamAAndIsRefusedInKubeSystem", func(t *testing.T) {
		untilAllowed(t, "alice creates a Deployment in team-a", func() error { return createDeployment(ctx, alice, "team-a", "web") })
		if err := createDeployment(ctx, alice, "kube-system", "web"); !apierrors.IsForbidden(err) {
			t.Fatalf("alice in kube-system: want 403 Forbidden, got %v", err)
		}
		if _, err := alice.Kube.AppsV1().Deployments("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("alice lists kube-system before the grant: %v", err)
		}
		csrs, err := e.admin.Kube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: access.LabelSubject + "=alice"})
		if err != nil || len(csrs.Items) != 0 {
			t.Fatalf("certificate requests left behind: %v %d", err, len(csrs.Items))
		}
	})

	t.Run("GrantWidens", func(t *testing.T) {
		out, err := rbacCLI(ctx, e.deps, "", "user", "grant", "alice", "--namespace", "kube-system", "--permissions", "get,list:pods,deployments", "--yes")
		if err != nil || !strings.Contains(out, "Granted alice 2 more rule(s) in kube-system") {
			t.Fatalf("grant: %v %q", err, out)
		}
		untilAllowed(t, "alice lists deployments in kube-system after the grant", func() error {
			_, err := alice.Kube.AppsV1().Deployments("kube-system").List(ctx, metav1.ListOptions{})
			return err
		})
		if _, err := alice.Kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatalf("alice lists pods in kube-system after the grant: %v", err)
		}
		if err := createDeployment(ctx, alice, "kube-system", "web"); !apierrors.IsForbidden(err) {
			t.Fatalf("the grant gave more than get,list: %v", err)
		}
		out, err = rbacCLI(ctx, e.deps, "", "user", "grant", "alice", "--namespace", "kube-system", "--permissions", "get,list:pods,deployments", "--yes")
		if err != nil || !strings.Contains(out, "nothing changed") {
			t.Fatalf("a repeated grant: %v %q", err, out)
		}
	})

	t.Run("ServiceAccount", func(t *testing.T) {
		out, err := rbacCLI(ctx, e.deps, "", "serviceaccount", "create", "ci-bot", "--namespace", "team-a", "--role", "edit", "--yes")
		if err != nil || !strings.Contains(out, "ServiceAccount team-a/ci-bot") {
			t.Fatalf("serviceaccount create: %v %q", err, out)
		}
		sec, err := e.admin.Kube.CoreV1().Secrets("team-a").Get(ctx, "ci-bot-token", metav1.GetOptions{})
		if err != nil || sec.Type != corev1.SecretTypeServiceAccountToken || len(sec.Data[corev1.ServiceAccountTokenKey]) == 0 {
			t.Fatalf("token Secret: %v (filled: %v)", err, sec != nil && len(sec.Data[corev1.ServiceAccountTokenKey]) > 0)
		}
		if strings.Contains(out, string(sec.Data[corev1.ServiceAccountTokenKey])) {
			t.Fatal("the token was printed")
		}
		kv, err := e.bao.KVGet(ctx, "serviceaccounts/team-a/ci-bot")
		if err != nil || kv.Data["token"] != string(sec.Data[corev1.ServiceAccountTokenKey]) {
			t.Fatalf("OpenBAO's copy of the token: %v (same: %v)", err, kv != nil && kv.Data["token"] == string(sec.Data[corev1.ServiceAccountTokenKey]))
		}
		out, err = rbacCLI(ctx, e.deps, "", "sa", "create", "ci-bot", "--namespace", "team-a", "--role", "edit", "--yes")
		if err != nil || !strings.Contains(out, "nothing changed") {
			t.Fatalf("a repeated serviceaccount create: %v %q", err, out)
		}
	})

	t.Run("ListShowsBothSides", func(t *testing.T) {
		out, err := rbacCLI(ctx, e.deps, "", "list", "--json")
		if err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		var subs []access.Subject
		if err := json.Unmarshal([]byte(out), &subs); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range subs {
			var g []string
			for _, x := range s.Grants {
				g = append(g, x.String())
			}
			got = append(got, fmt.Sprintf("%s %s/%s bao=%v userpass=%v %s", s.Kind, s.Namespace, s.Name, s.InOpenBAO, s.Userpass, strings.Join(g, ",")))
		}
		want := []string{
			"user /alice bao=true userpass=true kube-system:Role/foundry-user-alice,team-a:edit",
			"serviceaccount team-a/ci-bot bao=true userpass=false team-a:edit",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("rbac list:\n got %q\nwant %q", got, want)
		}
		out, err = rbacCLI(ctx, e.deps, "", "list", "--namespace", "team-b")
		if err != nil || !strings.Contains(out, "user\talice\tentity+userpass\tnone\t") || strings.Contains(out, "ci-bot") {
			t.Fatalf("list --namespace team-b: %v\n%s", err, out)
		}
	})

	t.Run("ReadOnlyOperatorIsRefused", func(t *testing.T) {
		for _, args := range [][]string{
			{"user", "create", "bob", "--namespace", "team-a", "--role", "view", "--yes"},
			{"user", "grant", "alice", "--namespace", "team-b", "--permissions", "get:pods", "--yes"},
			{"serviceaccount", "create", "bot2", "--namespace", "team-a", "--yes"},
			{"list"},
		} {
			_, err := rbacCLI(ctx, e.readOnly, "", args...)
			if err == nil || !strings.Contains(err.Error(), "only an admin operator of Foundry") {
				t.Fatalf("%v as read-only: %v", args, err)
			}
		}
		e.assertNoUser(ctx, t, "bob")
		if _, err := e.admin.Kube.RbacV1().Roles("team-b").Get(ctx, "foundry-user-alice", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("a refused grant made a Role: %v", err)
		}
	})

	t.Run("BadInputMakesNothing", func(t *testing.T) {
		cases := []struct {
			args    []string
			wantErr string
			user    string
		}{
			{[]string{"user", "create", "carol", "--namespace", "team-a", "--role", "owner", "--yes"}, `unknown role "owner"`, "carol"},
			{[]string{"user", "grant", "alice", "--namespace", "team-b", "--permissions", "get;list:pods", "--yes"}, "malformed permission", ""},
			{[]string{"user", "grant", "alice", "--namespace", "team-b", "--permissions", "get:widgets", "--yes"}, `the cluster serves no resource "widgets"`, ""},
			{[]string{"user", "create", "alice", "--namespace", "team-b", "--role", "view", "--yes"}, "OpenBAO already has an entity named alice", ""},
			{[]string{"user", "create", "carol", "--namespace", "no-such-ns", "--role", "view", "--yes"}, "namespace no-such-ns does not exist", "carol"},
			{[]string{"user", "grant", "carol", "--namespace", "team-a", "--permissions", "get:pods", "--yes"}, "OpenBAO has no user carol", "carol"},
			{[]string{"serviceaccount", "create", "bot3", "--namespace", "no-such-ns", "--yes"}, "namespace no-such-ns does not exist", ""},
		}
		for _, tc := range cases {
			_, err := rbacCLI(ctx, e.deps, "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%v: got %v, want one line with %q", tc.args, err, tc.wantErr)
			}
			if tc.user != "" {
				e.assertNoUser(ctx, t, tc.user)
			}
		}
		if _, err := e.admin.Kube.RbacV1().Roles("team-b").Get(ctx, "foundry-user-alice", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("a refused grant made a Role: %v", err)
		}
		// Alice's binding in team-a is the only one: the refused create
		// did not bind view in team-b.
		if rbs, err := e.admin.Kube.RbacV1().RoleBindings("team-b").List(ctx, metav1.ListOptions{}); err != nil || len(rbs.Items) != 0 {
			t.Fatalf("bindings in team-b: %v %d", err, len(rbs.Items))
		}
	})

	t.Run("FailureHalfWayIsUndone", func(t *testing.T) {
		// OpenBAO refuses the last step (storing the kubeconfig): every
		// earlier step, on both sides, must be gone.
		failing := rbac.Deps{RequireAdmin: e.deps.RequireAdmin, Access: func(context.Context) (*access.Manager, error) {
			return &access.Manager{Kube: e.admin.Kube, REST: e.admin.REST, Cluster: "standin", Bao: failOn{Vault: e.bao, path: "secret/data/users/dave/"}}, nil
		}}
		_, err := rbacCLI(ctx, failing, "", "user", "create", "dave", "--namespace", "team-a", "--role", "view", "--yes")
		if err == nil || !strings.Contains(err.Error(), "nothing of it was kept") {
			t.Fatalf("a failing create: %v", err)
		}
		e.assertNoUser(ctx, t, "dave")
		if _, err := e.admin.Kube.RbacV1().RoleBindings("team-a").Get(ctx, "foundry-user-dave-view", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the failed create left its RoleBinding: %v", err)
		}
		// And dave can be created afterwards, as nothing is in the way.
		if _, err := rbacCLI(ctx, e.deps, "", "user", "create", "dave", "--namespace", "team-a", "--role", "view", "--yes"); err != nil {
			t.Fatalf("create after an undone failure: %v", err)
		}
		cred, err := e.bao.KVGet(ctx, "users/dave/credentials")
		if err != nil || cred.Data["password"] == "" {
			t.Fatalf("a generated password is kept for the admin to hand over: %v", err)
		}

		// The same for a service account whose token OpenBAO refuses.
		failing.Access = func(context.Context) (*access.Manager, error) {
			return &access.Manager{Kube: e.admin.Kube, REST: e.admin.REST, Cluster: "standin", Bao: failOn{Vault: e.bao, path: "secret/data/serviceaccounts/"}}, nil
		}
		if _, err := rbacCLI(ctx, failing, "", "sa", "create", "bot4", "--namespace", "team-a", "--yes"); err == nil || !strings.Contains(err.Error(), "nothing of it was kept") {
			t.Fatalf("a failing serviceaccount create: %v", err)
		}
		if _, err := e.admin.Kube.CoreV1().ServiceAccounts("team-a").Get(ctx, "bot4", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the failed create left its ServiceAccount: %v", err)
		}
		if _, err := e.admin.Kube.CoreV1().Secrets("team-a").Get(ctx, "bot4-token", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the failed create left its token Secret: %v", err)
		}
		if _, err := e.admin.Kube.RbacV1().RoleBindings("team-a").Get(ctx, "foundry-sa-bot4-view", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the failed create left its RoleBinding: %v", err)
		}
	})
}

// untilAllowed retries a call the API server forbids until its
// authorizer has seen a new binding (it learns of them through an
// informer), for at most 30 seconds.
func untilAllowed(t *testing.T, what string, call func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	err := call()
	for apierrors.IsForbidden(err) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		err = call()
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// failOn is an OpenBAO whose writes under path fail, as a full disk or a
// lost connection would make them.
type failOn struct {
	access.Vault
	path string
}

func (f failOn) Write(ctx context.Context, op, path string, data map[string]any) (map[string]any, error) {
	if strings.HasPrefix(path, f.path) {
		return nil, errors.New("injected failure: OpenBAO refused the write")
	}
	return f.Vault.Write(ctx, op, path, data)
}

func (e *accessEnv) assertNoUser(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	for _, p := range []string{"identity/entity/name/" + name, "auth/userpass/users/" + name, "sys/policies/acl/foundry-user-" + name} {
		if _, err := e.bao.Read(ctx, "check", p); !errors.Is(err, secrets.ErrNotFound) {
			t.Fatalf("%s is in OpenBAO (%v); a refused or failed create must leave nothing", p, err)
		}
	}
	for _, ns := range []string{"team-a", "team-b"} {
		rbs, err := e.admin.Kube.RbacV1().RoleBindings(ns).List(ctx, metav1.ListOptions{LabelSelector: access.LabelSubject + "=" + name})
		if err != nil || len(rbs.Items) != 0 {
			t.Fatalf("bindings of %s in %s: %v %d", name, ns, err, len(rbs.Items))
		}
	}
}

// loginUserpass logs in as OpenBAO's CLI does (bao login -method=userpass),
// with the official client, and returns a Foundry client with the token.
func loginUserpass(ctx context.Context, t *testing.T, e *accessEnv, user, password string) *secrets.BaoClient {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = e.baoURL
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	sec, err := c.Logical().WriteWithContext(ctx, "auth/userpass/login/"+user, map[string]any{"password": password})
	if err != nil || sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		t.Fatalf("userpass login as %s: %v %+v", user, err, sec)
	}
	if _, err := c.Logical().WriteWithContext(ctx, "auth/userpass/login/"+user, map[string]any{"password": "wrong"}); err == nil {
		t.Fatal("userpass login with a wrong password worked")
	}
	b, err := e.bao.WithToken(sec.Auth.ClientToken)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func createDeployment(ctx context.Context, c *kube.Client, ns, name string) error {
	one := int32(1)
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.invalid/web:1"}}}}},
	}
	_, err := c.Kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	return err
}
