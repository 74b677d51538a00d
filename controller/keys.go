package controller

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller/pki"
)

// Key files inside the data directory.
const (
	SigningKeyFile = "signing.key"
	AdminCredsFile = "admin.nk"
)

// loadOrCreateSigningKey returns the command-signing key, creating it on
// first start. A key file readable by others is refused rather than used:
// anyone who can read it can command every host.
func loadOrCreateSigningKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, SigningKeyFile)
	priv, err := readSigningKey(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := writeSigningKey(path, priv); err != nil {
			return nil, err
		}
		return priv, nil
	}
	return priv, err
}

// loadOrCreateNKey returns a user NKey stored as a seed file, creating it
// when absent.
func loadOrCreateNKey(path string) (nkeys.KeyPair, bool, error) {
	b, err := readPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, false, err
		}
		seed, _ := kp.Seed()
		if err := pki.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
			return nil, false, fmt.Errorf("write %s: %w", path, err)
		}
		return kp, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		return nil, false, fmt.Errorf("%s is not an NKey seed: %w", path, err)
	}
	return kp, false, nil
}

// readPrivate reads a secret file, refusing one that group or others can
// read.
func readPrivate(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %o); run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	return os.ReadFile(path)
}
