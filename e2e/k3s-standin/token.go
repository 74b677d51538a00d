package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// joinToken is a k3s token split into its parts. k3s accepts either a bare
// secret or the "secure" form K10<sha256 of the server CA PEM>::server:<secret>
// that it writes to node-token; the hash lets a joiner pin the CA before
// it trusts the server with the secret.
type joinToken struct {
	CAHash string // hex, empty for a bare token
	Secret string
}

func parseToken(t string) (joinToken, error) {
	t = strings.TrimSpace(t)
	if !strings.HasPrefix(t, "K10") || !strings.Contains(t, "::") {
		if t == "" {
			return joinToken{}, fmt.Errorf("empty token")
		}
		return joinToken{Secret: t}, nil
	}
	hash, rest, _ := strings.Cut(t[3:], "::")
	_, secret, ok := strings.Cut(rest, ":")
	if !ok || secret == "" {
		return joinToken{}, fmt.Errorf("token in K10 form lacks <user>:<secret> after ::")
	}
	if _, err := hex.DecodeString(hash); err != nil || len(hash) != 64 {
		return joinToken{}, fmt.Errorf("token CA hash is not a sha256 hex digest")
	}
	return joinToken{CAHash: hash, Secret: secret}, nil
}

// caHash is what k3s puts after K10: sha256 over the CA certificate file.
func caHash(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// nodeToken is the content of <data-dir>/server/node-token.
func nodeToken(caPEM []byte, secret string) string {
	return "K10" + caHash(caPEM) + "::server:" + secret
}

// randomSecret makes a token when none was given, as k3s does.
func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
