package secrets

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Where host SSH private keys live, as the stack config's foundry.ssh_keys
// names it.
const (
	SSHKeysOpenBAO = "openbao"
	SSHKeysFile    = "file"
)

// SSH key locations: foundry/ssh-keys/<hostname> in OpenBAO (field
// private_key), or ~/.foundry/ssh-keys/<hostname> on disk.
const (
	SSHKeysFolder = "ssh-keys"
	SSHKeyField   = "private_key"
)

// SSHKeyStore keeps each host's unique SSH private key, in OpenBAO by
// default (the seed: keys are never stored locally unless the config says
// so) or in 0600 files when the config chooses "file".
type SSHKeyStore struct {
	backend string
	bao     *BaoClient
	dir     string
}

// NewSSHKeyStore picks the backend named by the config. "openbao" needs a
// client; "file" needs Foundry's home directory.
func NewSSHKeyStore(backend string, bao *BaoClient, home string) (*SSHKeyStore, error) {
	switch backend {
	case SSHKeysOpenBAO:
		if bao == nil {
			return nil, errors.New("foundry.ssh_keys is openbao but OpenBAO is not configured; set foundry.openbao.address or choose ssh_keys: file")
		}
	case SSHKeysFile:
		if home == "" {
			return nil, errors.New("ssh_keys: file needs Foundry's home directory")
		}
	default:
		return nil, fmt.Errorf("unknown SSH key backend %q; use %q or %q", backend, SSHKeysOpenBAO, SSHKeysFile)
	}
	return &SSHKeyStore{backend: backend, bao: bao, dir: filepath.Join(home, SSHKeysFolder)}, nil
}

// Backend reports where keys go, for messages.
func (s *SSHKeyStore) Backend() string { return s.backend }

// SSHKeyPath is the OpenBAO secret path of a host's key.
func SSHKeyPath(hostname string) string {
	return CoreNamespace + "/" + SSHKeysFolder + "/" + strings.ToLower(hostname)
}

// StoreSSHKey saves hostname's private key, replacing any previous one.
func (s *SSHKeyStore) StoreSSHKey(ctx context.Context, hostname string, privatePEM []byte) error {
	if err := checkHostname(hostname); err != nil {
		return err
	}
	if err := checkPrivatePEM(privatePEM); err != nil {
		return fmt.Errorf("store SSH key for %s: %w", hostname, err)
	}
	if s.backend == SSHKeysOpenBAO {
		_, err := s.bao.KVPut(ctx, SSHKeyPath(hostname), map[string]any{SSHKeyField: string(privatePEM)}, -1)
		if err != nil {
			return fmt.Errorf("store SSH key for %s: %w", hostname, err)
		}
		return nil
	}
	if err := writePrivate(s.filePath(hostname), privatePEM); err != nil {
		return fmt.Errorf("store SSH key for %s: %w", hostname, err)
	}
	return nil
}

// LoadSSHKey returns hostname's private key. A host with no stored key is
// ErrNotFound, so the bootstrapper knows to fall back to a password.
func (s *SSHKeyStore) LoadSSHKey(ctx context.Context, hostname string) ([]byte, error) {
	if err := checkHostname(hostname); err != nil {
		return nil, err
	}
	if s.backend == SSHKeysOpenBAO {
		sec, err := s.bao.KVGet(ctx, SSHKeyPath(hostname))
		if err != nil {
			return nil, fmt.Errorf("load SSH key for %s: %w", hostname, err)
		}
		v, ok := sec.Data[SSHKeyField].(string)
		if !ok || v == "" {
			return nil, fmt.Errorf("load SSH key for %s: %w: %s has no %s field", hostname, ErrNotFound, SSHKeyPath(hostname), SSHKeyField)
		}
		return []byte(v), nil
	}
	b, err := readPrivate(s.filePath(hostname))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load SSH key for %s: %w: no file %s", hostname, ErrNotFound, s.filePath(hostname))
	}
	if err != nil {
		return nil, fmt.Errorf("load SSH key for %s: %w", hostname, err)
	}
	return b, nil
}

// DeleteSSHKey forgets hostname's private key, once the host no longer
// accepts it (host remove). It reports whether there was one.
func (s *SSHKeyStore) DeleteSSHKey(ctx context.Context, hostname string) (bool, error) {
	if err := checkHostname(hostname); err != nil {
		return false, err
	}
	if s.backend == SSHKeysOpenBAO {
		if _, err := s.LoadSSHKey(ctx, hostname); errors.Is(err, ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if err := s.bao.KVDestroy(ctx, SSHKeyPath(hostname)); err != nil {
			return false, fmt.Errorf("delete SSH key for %s: %w", hostname, err)
		}
		return true, nil
	}
	err := os.Remove(s.filePath(hostname))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete SSH key for %s: %w", hostname, err)
	}
	return true, nil
}

func (s *SSHKeyStore) filePath(hostname string) string {
	return filepath.Join(s.dir, strings.ToLower(hostname))
}

// checkHostname keeps the name safe as a path segment and a KV path: RFC
// 1123 labels of letters, digits and hyphens, separated by dots.
func checkHostname(h string) error {
	bad := func(why string) error {
		return fmt.Errorf("hostname %q %s; use an RFC 1123 name like node1.example.com", h, why)
	}
	if h == "" || len(h) > 253 {
		return bad("must be 1 to 253 characters")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return bad("has an empty or over-long label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("has a label starting or ending with '-'")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return bad("may only hold letters, digits, '-' and '.'")
			}
		}
	}
	return nil
}

func checkPrivatePEM(b []byte) error {
	block, _ := pem.Decode(b)
	if block == nil || !strings.HasSuffix(block.Type, "PRIVATE KEY") {
		return errors.New("the key is not a PEM-encoded private key (expected a \"-----BEGIN ... PRIVATE KEY-----\" block)")
	}
	return nil
}
