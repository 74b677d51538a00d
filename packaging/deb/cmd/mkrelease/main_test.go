package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/packaging/release"
)

func dist(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "foundry-agent_1.0.0_linux_amd64"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(d, "foundry_1.0.0_darwin_arm64"), []byte("cli"), 0o755)
	return d
}

func TestWithoutAKeyTheReleaseIsUnsignedAndSaysSo(t *testing.T) {
	d := dist(t)
	var out, errOut bytes.Buffer
	if err := run(opts{version: "1.0.0", dist: d, date: "1764700000"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "NOT SIGNED") {
		t.Fatalf("no warning: %q", errOut.String())
	}
	if _, err := os.Stat(filepath.Join(d, release.SigFile)); !os.IsNotExist(err) {
		t.Fatalf("an unsigned release has a %s: %v", release.SigFile, err)
	}
	sums, _ := os.ReadFile(filepath.Join(d, release.SumsFile))
	for _, n := range []string{"foundry-agent_1.0.0_amd64.deb", "foundry-agent_1.0.0_linux_amd64", "foundry_1.0.0_darwin_arm64"} {
		if !strings.Contains(string(sums), "  "+n+"\n") {
			t.Errorf("%s not in SHA256SUMS:\n%s", n, sums)
		}
	}
}

func TestWithAKeyTheReleaseVerifies(t *testing.T) {
	d := dist(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	key := filepath.Join(t.TempDir(), "release.key")
	os.WriteFile(key, release.MarshalPrivateKey(priv), 0o600)
	var out, errOut bytes.Buffer
	if err := run(opts{version: "1.0.0", dist: d, date: "1764700000", key: key}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	res, err := release.Verify(d, pub)
	if err != nil || len(res.Verified) != 3 {
		t.Fatalf("%v %v\n%s", res, err, out.String())
	}
	if strings.Contains(errOut.String(), "NOT SIGNED") {
		t.Fatal("signed release warned it was unsigned")
	}
}
