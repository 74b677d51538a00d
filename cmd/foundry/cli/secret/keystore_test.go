package secret

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/ssh"
)

// TestSSHKeyStoreFollowsTheStackConfig: with OpenBAO configured, host
// keys go to foundry/ssh-keys/<host> in OpenBAO and not to disk; without
// a stack config they go to 0600 files.
func TestSSHKeyStoreFollowsTheStackConfig(t *testing.T) {
	b := startBao(t)
	home := t.TempDir()
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Home: func() (string, error) { return home, nil }, ConfigPath: func() string { return "" }}
	t.Setenv("FOUNDRY_CONFIG", "")
	t.Setenv("BAO_TOKEN", rootToken)
	pem, _, err := ssh.GenerateHostKey()
	if err != nil {
		t.Fatal(err)
	}

	ks, err := SSHKeyStore(f)
	if err != nil || ks.Backend() != secrets.SSHKeysFile {
		t.Fatalf("no config: %v %v", ks, err)
	}

	cfg := "version: \"1.0\"\ncluster:\n  name: lab\n  domain: lab.example.com\n  nodes:\n    - hostname: node1.lab.example.com\n      role: control-plane\n" +
		"foundry:\n  openbao:\n    address: " + b.url + "\n  ssh_keys: openbao\n"
	if err := os.WriteFile(filepath.Join(home, "lab.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err = SSHKeyStore(f)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Backend() != secrets.SSHKeysOpenBAO {
		t.Fatalf("backend %s", ks.Backend())
	}
	if err := ks.StoreSSHKey(context.Background(), "node1", pem); err != nil {
		t.Fatal(err)
	}
	c, _ := b.client(t, rootToken)()
	sec, err := c.KVGet(context.Background(), secrets.SSHKeyPath("node1"))
	if err != nil || sec == nil {
		t.Fatalf("key not in OpenBAO at %s: %v", secrets.SSHKeyPath("node1"), err)
	}
	if _, err := os.Stat(filepath.Join(home, secrets.SSHKeysFolder, "node1")); !os.IsNotExist(err) {
		t.Fatalf("key also written to disk: %v", err)
	}
}
