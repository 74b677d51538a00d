package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"strings"

	xssh "golang.org/x/crypto/ssh"
)

// GenerateHostKey returns a new ed25519 key pair for logging in to one host:
// the private key as OpenSSH PEM, and the line to put in that host's
// authorized_keys. Each host gets its own key, so one leaked key opens one
// host only.
func GenerateHostKey() (privatePEM []byte, authorizedKeyLine string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generating ed25519 key: %w", err)
	}
	defer clear(priv)
	block, err := xssh.MarshalPrivateKey(priv, "foundry")
	if err != nil {
		return nil, "", fmt.Errorf("encoding private key: %w", err)
	}
	sshPub, err := xssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", fmt.Errorf("encoding public key: %w", err)
	}
	line := strings.TrimSpace(string(xssh.MarshalAuthorizedKey(sshPub))) + " foundry"
	return pem.EncodeToMemory(block), line, nil
}

// AuthorizedKeyLine is the authorized_keys line GenerateHostKey made for
// privatePEM, so that `host remove` can take exactly that line out again.
func AuthorizedKeyLine(privatePEM []byte) (string, error) {
	signer, err := xssh.ParsePrivateKey(privatePEM)
	if err != nil {
		return "", fmt.Errorf("parse stored host key: %w", err)
	}
	return strings.TrimSpace(string(xssh.MarshalAuthorizedKey(signer.PublicKey()))) + " foundry", nil
}
