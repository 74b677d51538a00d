package secrets

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrInsecureFile means a file holding a secret can be read by group or
// others; Foundry refuses to use it rather than trust a leaked credential.
var ErrInsecureFile = errors.New("secret file readable by group or others")

// maxPrivateFile bounds what readPrivate will load (tokens and keys are
// small).
const maxPrivateFile = 1 << 20

// writePrivate writes data to path with mode 0600, creating its directory
// with 0700. It writes a temporary file, syncs and renames it, so a crash
// never leaves a half-written key and the file is never briefly
// world-readable; the directory is synced so the rename survives a power
// loss.
func writePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", name, path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: some file systems cannot sync a directory
		d.Close()
	}
	return nil
}

// WritePrivateFile and ReadPrivateFile are writePrivate and readPrivate
// for the other stores of operator secrets (the cluster's kubeconfig and
// join token).
func WritePrivateFile(path string, data []byte) error { return writePrivate(path, data) }

// ReadPrivateFile: see WritePrivateFile.
func ReadPrivateFile(path string) ([]byte, error) { return readPrivate(path) }

// readPrivate reads a secret file, refusing one that group or others can
// read. The mode is checked on the opened file, not the name, so the check
// and the read concern the same file. A missing file is fs.ErrNotExist.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; remove it and store the secret again", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run `chmod 600 %s` and retry", ErrInsecureFile, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPrivateFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxPrivateFile {
		return nil, fmt.Errorf("%s is larger than 1 MiB; it is not a token or key Foundry wrote", path)
	}
	return b, nil
}
