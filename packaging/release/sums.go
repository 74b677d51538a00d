// Package release writes and checks what makes a set of files a Foundry
// release: SHA256SUMS (the format sha256sum -c reads) and an Ed25519
// signature over it, SHA256SUMS.sig (64 raw bytes, what `openssl pkeyutl
// -verify -rawin` checks), so an operator can verify with stock tools or
// with `foundry release verify`. Keys are PEM: PKCS#8 private, PKIX
// public, as `openssl genpkey -algorithm ed25519` writes them.
package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File names in a release directory.
const (
	SumsFile = "SHA256SUMS"
	SigFile  = "SHA256SUMS.sig"
)

// Sums hashes the named files in dir and renders SHA256SUMS, sorted by
// name so the same files always give the same bytes.
func Sums(dir string, names []string) ([]byte, error) {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var b bytes.Buffer
	for _, n := range sorted {
		if n != filepath.Base(n) || strings.ContainsAny(n, " \n") {
			return nil, fmt.Errorf("release file name %q must be a plain file name without spaces", n)
		}
		sum, err := hashFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, n)
	}
	return b.Bytes(), nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Entry is one line of SHA256SUMS.
type Entry struct {
	SHA256 string
	Name   string
}

// ParseSums reads SHA256SUMS. It accepts sha256sum's binary marker ("*")
// and rejects anything else that is not "<64 hex>  <name>".
func ParseSums(b []byte) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimPrefix(name, " "), "*")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || name == "" || name != filepath.Base(name) {
			return nil, fmt.Errorf("%s line %d is not \"<sha256>  <file>\"", SumsFile, n)
		}
		out = append(out, Entry{SHA256: strings.ToLower(sum), Name: name})
	}
	return out, sc.Err()
}
