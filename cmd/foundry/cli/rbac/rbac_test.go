package rbac

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/shlex"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
)

func TestCreateFlags(t *testing.T) {
	cases := []struct {
		args    string
		tty     bool
		wantErr string
	}{
		{"bob --role admin --out /tmp/x", false, ""},
		{"bob --role read-only --out -", false, ""},
		{"bob --role admin --out - ", true, "refusing to print credentials to a terminal"},
		{"bob --role admin --out - --json", false, "--json cannot be combined"},
		{"bob --role admin", false, "--out is required"},
		{"bob --role root --out f", false, "--role must be admin or read-only"},
		{"Bob.X --role admin --out f", false, "invalid operator name"},
		{"--role admin --out f", false, "accepts 1 arg"},
	}
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			ios.SetTTY(tc.tty, tc.tty)
			var got *CreateOptions
			cmd := NewCmdCreate(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *CreateOptions) error { got = o; return nil })
			args, _ := shlex.Split(tc.args)
			cmd.SetArgs(args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Name != "bob" {
				t.Fatalf("%v %+v", err, got)
			}
		})
	}
}

// The whole life of an operator through the verbs: created with a seed
// file only it holds, listed, able to connect with its role, revoked.
func TestOperatorLifecycle(t *testing.T) {
	c := ct.StartController(t)
	connect := ct.ConnectFunc(t, c)
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "viewer.nk")

	ios, _, stdout, stderr := cmdutil.Test()
	if err := createRun(ctx, &CreateOptions{IO: ios, Connect: connect, Name: "viewer", Role: controller.RoleReadOnly, Out: out}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", st, err)
	}
	seed, _ := os.ReadFile(out)
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	if strings.Contains(stdout.String()+stderr.String(), strings.TrimSpace(string(seed))) {
		t.Fatal("the seed was printed although --out was a file")
	}
	if f := strings.Split(strings.TrimSpace(stdout.String()), "\t"); len(f) != 4 || f[0] != "viewer" || f[1] != "read-only" || f[2] != pub || f[3] != out {
		t.Fatalf("piped output %q", stdout.String())
	}
	// Never overwrites credentials; the failed attempt creates nothing.
	ios, _, _, _ = cmdutil.Test()
	if err := createRun(ctx, &CreateOptions{IO: ios, Connect: connect, Name: "other", Role: controller.RoleAdmin, Out: out}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwrote credentials: %v", err)
	}
	// A refused create (name taken) leaves no credentials file behind.
	dup := filepath.Join(t.TempDir(), "dup.nk")
	if err := createRun(ctx, &CreateOptions{IO: ios, Connect: connect, Name: "viewer", Role: controller.RoleAdmin, Out: dup}); err == nil {
		t.Fatal("duplicate name accepted")
	}
	if _, err := os.Stat(dup); !os.IsNotExist(err) {
		t.Fatal("a refused create left its credentials file")
	}
	// --out - prints the seed alone on stdout for a pipe.
	ios, _, stdout, _ = cmdutil.Test()
	if err := createRun(ctx, &CreateOptions{IO: ios, Connect: connect, Name: "piped", Role: controller.RoleReadOnly, Out: "-"}); err != nil {
		t.Fatal(err)
	}
	if _, err := nkeys.FromSeed([]byte(strings.TrimSpace(stdout.String()))); err != nil || strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("--out - did not print exactly one seed line: %q", stdout.String())
	}

	viewer, err := client.Connect(ctx, client.Options{URL: c.URLs()[0], CredsFile: out, CAFile: ct.WriteCA(t, c)})
	if err != nil {
		t.Fatalf("the new operator cannot connect: %v", err)
	}
	defer viewer.Close()

	ios, _, stdout, _ = cmdutil.Test()
	if err := listRun(ctx, &ListOptions{IO: ios, Connect: connect, Now: time.Now}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "viewer\tread-only\tactive\t1\t") || !strings.HasSuffix(lines[2], pub) {
		t.Fatalf("list:\n%s", stdout.String())
	}

	ios, _, _, _ = cmdutil.Test()
	if err := revokeRun(ctx, &RevokeOptions{IO: ios, Connect: connect, Name: "viewer"}); err != cmdutil.ErrNeedYes {
		t.Fatalf("revoke without --yes and without a terminal: %v", err)
	}
	ios, _, stdout, _ = cmdutil.Test()
	if err := revokeRun(ctx, &RevokeOptions{IO: ios, Connect: connect, Name: "viewer", Yes: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "closed 1 connection") {
		t.Fatalf("revoke output %q", stdout.String())
	}
	if _, err := client.Connect(ctx, client.Options{URL: c.URLs()[0], CredsFile: out, CAFile: ct.WriteCA(t, c)}); err == nil {
		t.Fatal("revoked operator connected")
	}
}
