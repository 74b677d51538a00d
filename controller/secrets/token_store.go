package secrets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zalando/go-keyring"
)

// Keyring entry that holds Foundry's own OpenBAO token.
const (
	KeyringService = "foundry"
	KeyringUser    = "openbao-token"
)

// TokenFileName is the fallback token file inside Foundry's home.
const TokenFileName = "openbao-token"

// Keyring is the OS credential store, as an interface so tests can use a
// fake and the fallback path can be exercised on machines that have one.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// SystemKeyring is the OS keyring (Secret Service over D-Bus on Linux,
// Keychain on macOS, Credential Manager on Windows).
func SystemKeyring() Keyring { return systemKeyring{} }

type systemKeyring struct{}

// Get reads an item from the OS keyring.
func (systemKeyring) Get(s, u string) (string, error) { return keyring.Get(s, u) }

// Set writes an item to the OS keyring.
func (systemKeyring) Set(s, u, p string) error { return keyring.Set(s, u, p) }

// Delete removes an item from the OS keyring.
func (systemKeyring) Delete(s, u string) error { return keyring.Delete(s, u) }

// Token store backends, reported so the CLI can tell the user where the
// token went.
const (
	BackendKeyring = "OS keyring"
	BackendFile    = "file"
)

// TokenBackend says where a token was stored or found.
type TokenBackend struct {
	Kind     string // BackendKeyring or BackendFile
	Location string // keyring service/user, or the file path
	// Fallback is why the keyring was not used ("" when it was, or when
	// no keyring is configured).
	Fallback string
}

// String renders the backend for messages, e.g. "file ~/.foundry/openbao-token".
func (b TokenBackend) String() string {
	s := b.Kind + " " + b.Location
	if b.Fallback != "" {
		s += " (OS keyring unavailable: " + b.Fallback + ")"
	}
	return s
}

// TokenStore keeps Foundry's own OpenBAO token: in the OS keyring where
// there is one, else in a 0600 file in Foundry's home.
type TokenStore struct {
	Dir     string  // Foundry's home (~/.foundry)
	Keyring Keyring // nil: file only
}

// NewTokenStore uses the OS keyring with the file as fallback.
func NewTokenStore(dir string) *TokenStore {
	return &TokenStore{Dir: dir, Keyring: SystemKeyring()}
}

func (t *TokenStore) filePath() string { return filepath.Join(t.Dir, TokenFileName) }

// Save stores token and reports where. When the keyring works, a stale
// token file is removed so there is only one copy.
func (t *TokenStore) Save(token string) (TokenBackend, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return TokenBackend{}, errors.New("the OpenBAO token is empty; paste the token and try again")
	}
	var fallback string
	if t.Keyring != nil {
		err := t.Keyring.Set(KeyringService, KeyringUser, token)
		if err == nil {
			if rerr := os.Remove(t.filePath()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return TokenBackend{}, fmt.Errorf("token stored in the OS keyring, but removing the old %s failed: %w", t.filePath(), rerr)
			}
			return TokenBackend{Kind: BackendKeyring, Location: KeyringService + "/" + KeyringUser}, nil
		}
		fallback = firstLine(err.Error())
	}
	if err := writePrivate(t.filePath(), []byte(token+"\n")); err != nil {
		return TokenBackend{}, fmt.Errorf("store OpenBAO token: %w", err)
	}
	return TokenBackend{Kind: BackendFile, Location: t.filePath(), Fallback: fallback}, nil
}

// Load returns the stored token and where it came from. No token anywhere
// is ErrNoToken; a token file readable by others is ErrInsecureFile.
func (t *TokenStore) Load() (string, TokenBackend, error) {
	if t.Keyring != nil {
		tok, err := t.Keyring.Get(KeyringService, KeyringUser)
		if err == nil && strings.TrimSpace(tok) != "" {
			return strings.TrimSpace(tok), TokenBackend{Kind: BackendKeyring, Location: KeyringService + "/" + KeyringUser}, nil
		}
	}
	b, err := readPrivate(t.filePath())
	if errors.Is(err, fs.ErrNotExist) {
		return "", TokenBackend{}, fmt.Errorf("%w in the OS keyring or %s; %s", ErrNoToken, t.filePath(), fixNoToken)
	}
	if err != nil {
		return "", TokenBackend{}, fmt.Errorf("load OpenBAO token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", TokenBackend{}, fmt.Errorf("%w: %s is empty; %s", ErrNoToken, t.filePath(), fixNoToken)
	}
	return tok, TokenBackend{Kind: BackendFile, Location: t.filePath()}, nil
}

// Delete removes the token from both places (logout).
func (t *TokenStore) Delete() error {
	if t.Keyring != nil {
		// Not found and "no keyring here" both mean nothing to delete.
		_ = t.Keyring.Delete(KeyringService, KeyringUser)
	}
	if err := os.Remove(t.filePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", t.filePath(), err)
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
