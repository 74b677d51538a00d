package ssh

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// PublicKey is an SSH public key. It is x/crypto's type, aliased so callers
// of this package need not import x/crypto.
type PublicKey = xssh.PublicKey

// TrustPrompt decides whether to pin the key of a host seen for the first
// time. host is in known_hosts form ("10.0.0.5", "[h]:2222") and fingerprint
// is the key's SHA256 fingerprint ("SHA256:…"), which the CLI shows the user.
// Returning false refuses the connection; an error aborts it.
type TrustPrompt func(host string, key PublicKey, fingerprint string) (bool, error)

// AcceptNewHostKeys is the TrustPrompt of --yes: it pins every new host key.
// Changed keys are still refused.
func AcceptNewHostKeys(string, PublicKey, string) (bool, error) { return true, nil }

// DefaultKnownHostsFile returns ~/.foundry/known_hosts.
func DefaultKnownHostsFile() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".foundry", "known_hosts"), nil
}

// PinnedKey is one key pinned for a host in known_hosts.
type PinnedKey struct {
	Type        string
	Fingerprint string
	Line        int
}

// HostKeyChangedError refuses a host whose key differs from the pinned one.
// Offered is empty when the host offered none of the pinned key types.
type HostKeyChangedError struct {
	Host               string // known_hosts form
	File               string
	Pinned             []PinnedKey
	OfferedType        string
	OfferedFingerprint string
}

func (e *HostKeyChangedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host key of %s has CHANGED: pinned ", e.Host)
	for i, p := range e.Pinned {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s (%s line %d)", p.Type, p.Fingerprint, e.File, p.Line)
	}
	if e.OfferedFingerprint != "" {
		fmt.Fprintf(&b, "; the host now offers %s %s", e.OfferedType, e.OfferedFingerprint)
	} else {
		b.WriteString("; the host now offers none of the pinned key types")
	}
	fmt.Fprintf(&b, ". Refusing to connect: this can be a man-in-the-middle attack. "+
		"If the change is legitimate (host reinstalled or re-keyed), check the new fingerprint out of band, "+
		"then remove the stale pin with: ssh-keygen -R %s -f %s", Quote(e.Host), Quote(e.File))
	return b.String()
}

// Is makes errors.Is(err, ErrHostKeyChanged) true.
func (e *HostKeyChangedError) Is(target error) bool { return target == ErrHostKeyChanged }

// HostKeyUnknownError refuses a host whose key is not pinned: there was no
// TrustPrompt, or it said no, or the key is marked @revoked.
type HostKeyUnknownError struct {
	Host        string
	File        string
	Type        string
	Fingerprint string
	Reason      string
}

func (e *HostKeyUnknownError) Error() string {
	return fmt.Sprintf("host key of %s (%s %s) is not trusted: %s", e.Host, e.Type, e.Fingerprint, e.Reason)
}

// Is makes errors.Is(err, ErrHostKeyUnknown) true.
func (e *HostKeyUnknownError) Is(target error) bool { return target == ErrHostKeyUnknown }

// hostKeyVerifier checks host keys against one known_hosts file and pins new
// ones the TrustPrompt accepts.
type hostKeyVerifier struct {
	file   string
	prompt TrustPrompt
	log    *slog.Logger
}

// knownHostsMu serializes pinning within this process; a flock on the file
// does it across processes.
var knownHostsMu sync.Mutex

func newHostKeyVerifier(file string, prompt TrustPrompt, log *slog.Logger) (*hostKeyVerifier, error) {
	if file == "" {
		return nil, errors.New("ssh: a known_hosts file is required: Foundry always verifies host keys")
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("creating the directory of %s: %w", abs, err)
	}
	f, err := os.OpenFile(abs, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening known_hosts: %w", err)
	}
	f.Close()
	return &hostKeyVerifier{file: abs, prompt: prompt, log: log}, nil
}

// hostOf returns addr ("h:22") in known_hosts form ("h", "[h]:2222").
func hostOf(addr string) string { return knownhosts.Normalize(addr) }

// probeKey is a key no host has: checking it lists what is pinned for a host.
var probeKey = sync.OnceValue(func() PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := xssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})

// pinnedKeys returns the keys pinned for addr, as knownhosts reports them.
func (v *hostKeyVerifier) pinnedKeys(addr string) ([]knownhosts.KnownKey, error) {
	cb, err := knownhosts.New(v.file)
	if err != nil {
		return nil, err
	}
	err = cb(addr, &net.TCPAddr{IP: net.IPv4zero, Port: 22}, probeKey())
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		return ke.Want, nil
	}
	return nil, nil
}

func (v *hostKeyVerifier) pinned(addr string) []PinnedKey {
	keys, _ := v.pinnedKeys(addr)
	return toPinned(keys)
}

func toPinned(keys []knownhosts.KnownKey) []PinnedKey {
	out := make([]PinnedKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, PinnedKey{Type: k.Key.Type(), Fingerprint: xssh.FingerprintSHA256(k.Key), Line: k.Line})
	}
	return out
}

// defaultHostKeyAlgorithms is the order offered for a host not pinned yet:
// ed25519 first, so that is the key that gets pinned.
var defaultHostKeyAlgorithms = []string{
	xssh.KeyAlgoED25519,
	xssh.KeyAlgoECDSA256, xssh.KeyAlgoECDSA384, xssh.KeyAlgoECDSA521,
	xssh.KeyAlgoRSASHA512, xssh.KeyAlgoRSASHA256,
}

// algorithms returns the host key algorithms to offer for addr. For a pinned
// host only the pinned key types are offered: otherwise the server could
// pick another type, and knownhosts would report a perfectly good host as
// changed.
func (v *hostKeyVerifier) algorithms(addr string) ([]string, error) {
	keys, err := v.pinnedKeys(addr)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", v.file, err)
	}
	if len(keys) == 0 {
		return defaultHostKeyAlgorithms, nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range keys {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos, nil
}

func algorithmsForKeyType(t string) []string {
	if t == xssh.KeyAlgoRSA {
		return []string{xssh.KeyAlgoRSASHA512, xssh.KeyAlgoRSASHA256}
	}
	return []string{t}
}

// callback returns the HostKeyCallback for one handshake on conn. Waiting
// for the lock and for the user's answer does not count against the
// handshake deadline.
func (v *hostKeyVerifier) callback(conn net.Conn, handshakeTimeout time.Duration) xssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key PublicKey) error {
		_ = conn.SetDeadline(time.Time{})
		defer func() { _ = conn.SetDeadline(time.Now().Add(handshakeTimeout)) }()
		return v.verify(hostname, remote, key)
	}
}

func (v *hostKeyVerifier) verify(hostname string, remote net.Addr, key PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	// Read-only for the lock: a pinned host must work with a read-only file.
	f, err := os.Open(v.file)
	if err != nil {
		return fmt.Errorf("opening known_hosts: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("locking %s: %w", v.file, err)
	}
	// Read the file again under the lock: another process may have pinned it.
	cb, err := knownhosts.New(v.file)
	if err != nil {
		return fmt.Errorf("reading %s: %w", v.file, err)
	}
	err = cb(hostname, remote, key)
	if err == nil {
		return nil
	}
	host := hostOf(hostname)
	fp := xssh.FingerprintSHA256(key)
	var ke *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		return &HostKeyUnknownError{Host: host, File: v.file, Type: key.Type(), Fingerprint: fp,
			Reason: fmt.Sprintf("it is marked @revoked in %s line %d", v.file, revoked.Revoked.Line)}
	case !errors.As(err, &ke):
		return fmt.Errorf("checking the host key of %s against %s: %w", host, v.file, err)
	case len(ke.Want) > 0:
		return &HostKeyChangedError{Host: host, File: v.file, Pinned: toPinned(ke.Want),
			OfferedType: key.Type(), OfferedFingerprint: fp}
	}
	if v.prompt == nil {
		return &HostKeyUnknownError{Host: host, File: v.file, Type: key.Type(), Fingerprint: fp,
			Reason: "it is not pinned in " + v.file + " and no one was asked to trust it; check the fingerprint and run interactively or with --yes"}
	}
	ok, err := v.prompt(host, key, fp)
	if err != nil {
		return fmt.Errorf("asking whether to trust the host key of %s: %w", host, err)
	}
	if !ok {
		return &HostKeyUnknownError{Host: host, File: v.file, Type: key.Type(), Fingerprint: fp,
			Reason: "it was not accepted"}
	}
	if err := appendLine(v.file, knownhosts.Line([]string{host}, key)); err != nil {
		return fmt.Errorf("pinning the host key of %s in %s: %w", host, v.file, err)
	}
	v.log.Info("pinned host key", "known_host", host, "type", key.Type(), "fingerprint", fp, "file", v.file)
	return nil
}

// appendLine appends line to file, starting a new line first if the file does
// not end with one.
func appendLine(file, line string) error {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err != nil && err != io.EOF {
			return err
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		return err
	}
	return f.Sync()
}
