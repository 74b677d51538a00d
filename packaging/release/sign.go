package release

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LoadPrivateKey reads an Ed25519 private key (PEM, PKCS#8). The release
// key never lives in the repository: make package reads it from the path
// in $FOUNDRY_RELEASE_KEY.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %o); chmod 600 it", path, st.Mode().Perm())
	}
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s is not a PKCS#8 private key: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s is not an Ed25519 key (create one with openssl genpkey -algorithm ed25519)", path)
	}
	return ek, nil
}

// LoadPublicKey reads an Ed25519 public key (PEM, PKIX).
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s is not a PKIX public key: %w", path, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s is not an Ed25519 public key", path)
	}
	return ek, nil
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("%s holds no PEM %q block", path, typ)
	}
	return blk.Bytes, nil
}

// MarshalPrivateKey and MarshalPublicKey write keys as LoadPrivateKey and
// LoadPublicKey read them (tests and throw-away keys).
func MarshalPrivateKey(k ed25519.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// MarshalPublicKey: see MarshalPrivateKey.
func MarshalPublicKey(k ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Write hashes names in dir into SHA256SUMS and, when key is not nil,
// signs it into SHA256SUMS.sig. An unsigned release has no .sig at all,
// so nothing can mistake it for a signed one.
func Write(dir string, names []string, key ed25519.PrivateKey) error {
	sums, err := Sums(dir, names)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, SumsFile), sums, 0o644); err != nil {
		return err
	}
	sig := filepath.Join(dir, SigFile)
	if key == nil {
		if err := os.Remove(sig); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.WriteFile(sig, ed25519.Sign(key, sums), 0o644)
}

// Result is what Verify found.
type Result struct {
	// Verified are the files whose hash matched, in SHA256SUMS order.
	Verified []string
}

// Verify checks SHA256SUMS.sig against pub, then every file SHA256SUMS
// names. Any failure is an error naming what is wrong; files in dir that
// SHA256SUMS does not name are not part of the release and are ignored.
func Verify(dir string, pub ed25519.PublicKey) (Result, error) {
	sums, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", SumsFile, err)
	}
	sig, err := os.ReadFile(filepath.Join(dir, SigFile))
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("the release in %s is not signed (no %s)", dir, SigFile)
	}
	if err != nil {
		return Result{}, err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, sums, sig) {
		return Result{}, fmt.Errorf("%s does not verify with this key: the release was not signed by it or was changed", SigFile)
	}
	entries, err := ParseSums(sums)
	if err != nil {
		return Result{}, err
	}
	if len(entries) == 0 {
		return Result{}, fmt.Errorf("%s names no files", SumsFile)
	}
	var res Result
	for _, e := range entries {
		got, err := hashFile(filepath.Join(dir, e.Name))
		if err != nil {
			return res, fmt.Errorf("%s is listed in %s but cannot be read: %w", e.Name, SumsFile, err)
		}
		if got != e.SHA256 {
			return res, fmt.Errorf("%s does not match its SHA-256 in %s: the file was changed", e.Name, SumsFile)
		}
		res.Verified = append(res.Verified, e.Name)
	}
	return res, nil
}
