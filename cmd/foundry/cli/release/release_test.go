package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	rel "github.com/foundry-fleet/foundry/packaging/release"
)

func TestVerifyPrintsEachFileAndFailsOnTampering(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "foundry_1_linux_amd64"), []byte("x"), 0o644)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := rel.Write(dir, []string{"foundry_1_linux_amd64"}, priv); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "release.pub")
	os.WriteFile(key, rel.MarshalPublicKey(pub), 0o644)

	ios, _, out, _ := cmdutil.Test()
	if err := RunVerify(&VerifyOptions{IO: ios, Dir: dir, Key: key}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "ok  foundry_1_linux_amd64\n1 files verified: signature and SHA-256 match\n" {
		t.Fatalf("%q", out)
	}
	os.WriteFile(filepath.Join(dir, "foundry_1_linux_amd64"), []byte("y"), 0o644)
	err := RunVerify(&VerifyOptions{IO: ios, Dir: dir, Key: key})
	if err == nil || !strings.Contains(err.Error(), "foundry_1_linux_amd64 does not match") {
		t.Fatalf("%v", err)
	}
}
