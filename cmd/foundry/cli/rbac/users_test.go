package rbac

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
	"github.com/foundry-fleet/foundry/installer/access"
)

// rbac list is a join; which bindings and entities make which rows is
// mapping, so a fake clientset serves here (the e2e suite runs the same
// verb against a real API server).
func TestListJoinsOpenBAOAndKubernetes(t *testing.T) {
	ctx := context.Background()
	ts := httptest.NewServer(openbao.NewDev("root").Handler())
	t.Cleanup(ts.Close)
	bao, err := secrets.NewBaoClient(secrets.BaoOptions{Address: ts.URL, Token: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bao.Write(ctx, "enable", "sys/auth/userpass", map[string]any{"type": "userpass"}); err != nil {
		t.Fatal(err)
	}
	auths, _ := bao.Read(ctx, "list", "sys/auth")
	acc := auths["userpass/"].(map[string]any)["accessor"].(string)
	ent, err := bao.Write(ctx, "entity", "identity/entity", map[string]any{"name": "alice", "metadata": map[string]any{"managed-by": "foundry"}, "policies": []string{"foundry-user-alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bao.Write(ctx, "alias", "identity/entity-alias", map[string]any{"name": "alice", "canonical_id": ent["id"], "mount_accessor": acc}); err != nil {
		t.Fatal(err)
	}
	foundry := map[string]string{access.LabelManagedBy: "foundry"}
	user := func(n string) []rbacv1.Subject { return []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: n}} }
	kube := fake.NewClientset(
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "foundry-user-alice-edit", Namespace: "team-a", Labels: foundry},
			Subjects: user("alice"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}},
		// Made by hand, not by Foundry: still what Kubernetes grants alice.
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-view"},
			Subjects: user("alice"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}},
		// Someone unknown to OpenBAO, bound by hand: not Foundry's business.
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "eve", Namespace: "team-a"},
			Subjects: user("eve"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "admin"}},
	)
	d := Deps{RequireAdmin: func(context.Context) error { return nil },
		Access: func(context.Context) (*access.Manager, error) { return &access.Manager{Kube: kube, Bao: bao}, nil }}

	ios, _, out, _ := cmdutil.Test()
	if err := usersListRun(ctx, &UsersListOptions{IO: ios, Deps: d}); err != nil {
		t.Fatal(err)
	}
	want := "user\talice\tentity+userpass\t*:view,team-a:edit\t\n"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}

	// A user Foundry bound but OpenBAO has lost is a problem: shown, and
	// the exit code says so.
	if _, err := kube.RbacV1().RoleBindings("team-b").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "foundry-user-bob-view", Namespace: "team-b", Labels: foundry},
		Subjects:   user("bob"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ = cmdutil.Test()
	err = usersListRun(ctx, &UsersListOptions{IO: ios, Deps: d, Namespace: "team-b"})
	if err == nil || !strings.Contains(err.Error(), "1 subject(s) are known to only one side") {
		t.Fatalf("list with a lost user: %v", err)
	}
	want =
		"user\talice\tentity+userpass\t*:view\t\n" +
			"user\tbob\tmissing\tteam-b:view\tbound in Kubernetes but unknown to OpenBAO\n"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
}
