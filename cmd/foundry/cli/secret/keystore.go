package secret

import (
	"errors"
	"fmt"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// SSHKeyStore is where `host add` keeps each host's private SSH key: the
// backend the stack config names (foundry.ssh_keys; OpenBAO by default
// when OpenBAO is configured), or 0600 files under Foundry's home when
// there is no stack config. It returns the backend's name for messages.
func SSHKeyStore(f *cmdutil.Factory) (*secrets.SSHKeyStore, error) {
	d := newDeps(f)
	home, err := d.home()
	if err != nil {
		return nil, err
	}
	path, err := stackconfig.Select(d.configPath(), d.getenv(stackconfig.EnvConfig), home)
	if errors.Is(err, stackconfig.ErrNoConfig) {
		return secrets.NewSSHKeyStore(secrets.SSHKeysFile, nil, home)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := stackconfig.Load(path)
	if err != nil {
		return nil, fmt.Errorf("read %s to find where SSH keys live: %w", path, err)
	}
	backend := cfg.Config.SSHKeysBackend()
	if backend != secrets.SSHKeysOpenBAO {
		return secrets.NewSSHKeyStore(backend, nil, home)
	}
	bao, err := d.bao()
	if err != nil {
		return nil, err
	}
	return secrets.NewSSHKeyStore(backend, bao, home)
}
