package rbac

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/shlex"
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/installer/access"
)

// execFlags runs a verb with a runF that records it ran; the error is
// the flag parsing's.
func execFlags(t *testing.T, tty bool, args string, build func(*cmdutil.Factory, func()) *cobra.Command) (bool, error) {
	t.Helper()
	ios, _, _, _ := cmdutil.Test()
	ios.SetTTY(tty, tty)
	ran := false
	cmd := build(&cmdutil.Factory{IO: ios}, func() { ran = true })
	a, _ := shlex.Split(args)
	cmd.SetArgs(a)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	return ran, cmd.Execute()
}

func TestUserVerbsRefuseBadInputBeforeAnyCall(t *testing.T) {
	create := func(f *cmdutil.Factory, ran func()) *cobra.Command {
		return NewCmdUserCreate(f, Deps{}, func(context.Context, *UserCreateOptions) error { ran(); return nil })
	}
	grant := func(f *cmdutil.Factory, ran func()) *cobra.Command {
		return NewCmdUserGrant(f, Deps{}, func(context.Context, *UserGrantOptions) error { ran(); return nil })
	}
	sa := func(f *cmdutil.Factory, ran func()) *cobra.Command {
		return NewCmdServiceAccountCreate(f, Deps{}, func(context.Context, *ServiceAccountCreateOptions) error { ran(); return nil })
	}
	cases := []struct {
		verb    func(*cmdutil.Factory, func()) *cobra.Command
		args    string
		tty     bool
		wantErr string
	}{
		{create, "alice --namespace team-a --role edit", false, ""},
		{create, "alice --role cluster-admin --dry-run", false, ""},
		{create, "alice --show-kubeconfig", true, ""},
		{create, "alice --role root", false, `unknown role "root"`},
		{create, "Alice", false, "invalid user name"},
		{create, "alice --namespace Team_A", false, "invalid namespace"},
		{create, "alice --show-kubeconfig", false, "refusing to print a kubeconfig"},
		{create, "alice --show-kubeconfig --json", true, "cannot be combined"},
		{grant, "alice --namespace team-a --permissions get,list:pods,deployments", false, ""},
		{grant, "alice --namespace team-a --permissions get:pods --permissions watch:services", false, ""},
		{grant, "alice --permissions get:pods", false, "--namespace is required"},
		{grant, "alice --namespace team-a --permissions get-list:pods", false, "malformed permission"},
		{grant, "alice --namespace team-a --permissions get,list", false, "malformed permission"},
		{grant, "alice --namespace team-a", false, "no permissions given"},
		{sa, "ci-bot --namespace team-a", false, ""},
		{sa, "ci-bot --namespace team-a --role admin", false, ""},
		{sa, "ci-bot", false, "--namespace is required"},
		{sa, "ci-bot --namespace team-a --role owner", false, `unknown role "owner"`},
	}
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			ran, err := execFlags(t, tc.tty, tc.args, tc.verb)
			if tc.wantErr == "" {
				if err != nil || !ran {
					t.Fatalf("ran=%v err=%v", ran, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if ran {
				t.Fatal("the verb ran despite bad input")
			}
		})
	}
}

// Managing users needs an admin operator: the controller's word, not the
// credentials on this machine.
func TestRequireAdminRefusesReadOnlyOperator(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.ConnectFunc(t, c)
	ctx := context.Background()
	if err := RequireAdmin(ctx, admin); err != nil {
		t.Fatalf("the bootstrap admin was refused: %v", err)
	}
	acl, err := admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer acl.Close()
	creds := ct.CreateOperator(t, acl, "viewer", controller.RoleReadOnly)
	viewer := func(ctx context.Context) (*client.Client, error) { return ct.ClientAs(t, c, creds) }
	err = RequireAdmin(ctx, viewer)
	if err == nil || !strings.Contains(err.Error(), "only an admin operator of Foundry") {
		t.Fatalf("read-only operator: %v", err)
	}
	// And the verbs stop there, before opening the cluster or OpenBAO.
	ios, _, _, _ := cmdutil.Test()
	opened := false
	d := Deps{RequireAdmin: func(ctx context.Context) error { return RequireAdmin(ctx, viewer) },
		Access: func(context.Context) (*access.Manager, error) {
			opened = true
			return nil, errors.New("not for this operator")
		}}
	o := &UserCreateOptions{IO: ios, Deps: d, Name: "alice", Role: "view", Yes: true}
	if err := userCreateRun(ctx, o); err == nil || !strings.Contains(err.Error(), "only an admin operator") {
		t.Fatalf("user create as read-only: %v", err)
	}
	if opened {
		t.Fatal("opened the cluster for a read-only operator")
	}
}
