package host

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

func TestRekeyFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	var got *RekeyOptions
	cmd := NewCmdRekey(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *RekeyOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"web-1", "--ssh", "--yes", "--dry-run", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Host != "web-1" || !got.SSH || !got.Yes || !got.DryRun || !got.JSON {
		t.Fatalf("options: %+v", got)
	}
	cmd = NewCmdRekey(&cmdutil.Factory{IO: ios}, func(context.Context, *RekeyOptions) error { return nil })
	cmd.SetArgs([]string{"../etc"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil {
		t.Fatal("a bad host id was accepted")
	}
}

// host rekey through the agent prints what it did; --dry-run says what it
// would do and changes nothing; without --yes and a terminal it asks for
// it; --ssh on a host with no SSH address says what to do.
func TestRekeyRunThroughAgent(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	ct.RunAgent(t, cfg)
	ct.WaitOnline(t, admin, 1)
	home := t.TempDir()
	run := func(o RekeyOptions) (string, error) {
		ios, _, out, _ := cmdutil.Test()
		o.IO, o.Connect, o.Host = ios, ct.ConnectFunc(t, c), "web-1"
		o.Home = func() (string, error) { return home, nil }
		o.Keys = func() (*secrets.SSHKeyStore, error) { return secrets.NewSSHKeyStore(secrets.SSHKeysFile, nil, home) }
		err := rekeyRun(context.Background(), &o)
		return out.String(), err
	}
	seedPub := func() string {
		b, err := os.ReadFile(cfg.NKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		return pub
	}
	before := seedPub()

	out, err := run(RekeyOptions{DryRun: true})
	if err != nil || !strings.HasPrefix(out, "would ask the agent of web-1 (online) to make a new NATS key") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if _, err := run(RekeyOptions{}); err != cmdutil.ErrNeedYes {
		t.Fatalf("without --yes: %v, want %v", err, cmdutil.ErrNeedYes)
	}
	if _, err := run(RekeyOptions{SSH: true, Yes: true}); err == nil || !strings.Contains(err.Error(), "no SSH address is known for web-1") {
		t.Fatalf("--ssh without an address: %v", err)
	}
	if now := seedPub(); now != before {
		t.Fatalf("key changed before a real rekey: %v -> %v", before, now)
	}

	out, err = run(RekeyOptions{Yes: true})
	if err != nil {
		t.Fatalf("rekey: %v\n%s", err, out)
	}
	after := seedPub()
	lines := strings.Split(out, "\n")
	// How many connections the revocation closed depends on whether the
	// agent had closed its old one yet.
	if after == before || len(lines) != 4 || lines[0] != "web-1: new key "+after+" enrolled (made on the host, via nats)" ||
		!strings.HasPrefix(lines[1], "web-1: 1 old key(s) revoked, ") || lines[2] != "web-1: agent connected with the new key" {
		t.Fatalf("key %s -> %s, output:\n%s", before, after, out)
	}
}
