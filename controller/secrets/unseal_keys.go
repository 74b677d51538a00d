package secrets

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// UnsealKeys keeps the unseal key shares Foundry got when it initialised
// an OpenBAO host, in a 0600 file under Foundry's home (never in the
// controller, NATS or a log), so an OpenBAO restarted by an upgrade can
// be unsealed again without asking. Move them to a password manager and
// delete the file if that risk is not acceptable; Foundry then asks.
type UnsealKeys struct{ Dir string }

func (u UnsealKeys) path(host string) string {
	return filepath.Join(u.Dir, "openbao", "unseal-"+host+".json")
}

// Path is where host's keys are kept, for messages.
func (u UnsealKeys) Path(host string) string { return u.path(host) }

// Save writes host's key shares, replacing any.
func (u UnsealKeys) Save(host string, keys []string) error {
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(u.path(host)), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(u.path(host)), err)
	}
	return writePrivate(u.path(host), b)
}

// Load reads host's key shares; ErrNoUnsealKeys when none are kept.
func (u UnsealKeys) Load(host string) ([]string, error) {
	b, err := readPrivate(u.path(host))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoUnsealKeys
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("read unseal keys %s: %w", u.path(host), err)
	}
	return keys, nil
}

// ErrNoUnsealKeys means Foundry keeps no unseal keys for a host.
var ErrNoUnsealKeys = errors.New("no unseal keys are kept for this host")
