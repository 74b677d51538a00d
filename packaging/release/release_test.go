package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func fixture(t *testing.T) (dir string, priv ed25519.PrivateKey, pub ed25519.PublicKey) {
	t.Helper()
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, "foundry_1.0.0_linux_amd64"), []byte("cli"), 0o755)
	os.WriteFile(filepath.Join(dir, "foundry-agent_1.0.0_amd64.deb"), []byte("deb"), 0o644)
	pub, priv, _ = ed25519.GenerateKey(rand.Reader)
	return dir, priv, pub
}

var names = []string{"foundry_1.0.0_linux_amd64", "foundry-agent_1.0.0_amd64.deb"}

func TestSignedReleaseVerifies(t *testing.T) {
	dir, priv, pub := fixture(t)
	if err := Write(dir, names, priv); err != nil {
		t.Fatal(err)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, SumsFile))
	// sorted, in sha256sum's format
	if lines := strings.Split(strings.TrimSpace(string(sums)), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[0], "  foundry-agent_1.0.0_amd64.deb") {
		t.Fatalf("%q", sums)
	}
	res, err := Verify(dir, pub)
	if err != nil || len(res.Verified) != 2 {
		t.Fatalf("%v %v", res, err)
	}
}

func TestSha256sumReadsIt(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum not installed (coreutils); the format is pinned by TestSignedReleaseVerifies")
	}
	dir, priv, _ := fixture(t)
	Write(dir, names, priv)
	cmd := exec.Command("sha256sum", "-c", SumsFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
}

func TestTamperedFileWrongKeyAndUnsignedAreRefused(t *testing.T) {
	dir, priv, pub := fixture(t)
	Write(dir, names, priv)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := Verify(dir, other); err == nil || !strings.Contains(err.Error(), "does not verify with this key") {
		t.Fatalf("wrong key: %v", err)
	}
	os.WriteFile(filepath.Join(dir, names[1]), []byte("evil"), 0o644)
	if _, err := Verify(dir, pub); err == nil || !strings.Contains(err.Error(), "foundry-agent_1.0.0_amd64.deb does not match") {
		t.Fatalf("tampered file: %v", err)
	}
	// a changed SHA256SUMS (the tampered file's new hash) breaks the signature
	sums, _ := Sums(dir, names)
	os.WriteFile(filepath.Join(dir, SumsFile), sums, 0o644)
	if _, err := Verify(dir, pub); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("re-hashed: %v", err)
	}
	os.Remove(filepath.Join(dir, names[0]))
	Write(dir, names[1:], nil)
	if _, err := Verify(dir, pub); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("unsigned: %v", err)
	}
}

func TestKeysRoundTripAndOpenSSLAgrees(t *testing.T) {
	dir, priv, pub := fixture(t)
	kp, pp := filepath.Join(dir, "k.pem"), filepath.Join(dir, "p.pem")
	os.WriteFile(kp, MarshalPrivateKey(priv), 0o600)
	os.WriteFile(pp, MarshalPublicKey(pub), 0o644)
	k, err := LoadPrivateKey(kp)
	if err != nil || !k.Equal(priv) {
		t.Fatal(err)
	}
	p, err := LoadPublicKey(pp)
	if err != nil || !p.Equal(pub) {
		t.Fatal(err)
	}
	os.Chmod(kp, 0o640)
	if _, err := LoadPrivateKey(kp); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a group-readable release key was accepted: %v", err)
	}
	os.Chmod(kp, 0o600)
	if _, err := LoadPublicKey(kp); err == nil {
		t.Fatal("a private key file loaded as a public key")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed; the documented openssl check is not exercised")
	}
	Write(dir, names, k)
	cmd := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pp, "-rawin", "-in", SumsFile, "-sigfile", SigFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v %s", err, out)
	}
}

func TestParseSumsRejectsPaths(t *testing.T) {
	h := strings.Repeat("a", 64)
	for _, bad := range []string{h + "  ../etc/passwd\n", "zz  x\n", h + "\n"} {
		if _, err := ParseSums([]byte(bad)); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
	e, err := ParseSums([]byte(h + " *bin\n"))
	if err != nil || e[0].Name != "bin" {
		t.Fatalf("%v %v", e, err)
	}
}
