package config

import (
	"net/url"
	"strings"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// Redacted is what `config show` prints in place of an inline secret.
const Redacted = "<redacted>"

// secretKeySuffixes are key names (or endings) whose values are secrets.
// Matching by name is a heuristic; it errs on the side of hiding.
func secretKeySuffixes() []string {
	return []string{
		"password", "passwd", "secret", "token", "api_key", "apikey",
		"access_key", "private_key", "credentials", "client_secret",
	}
}

// secretKey reports whether a mapping key names a secret: password,
// admin_password, api_key, token, client-secret...
func secretKey(key string) bool {
	k := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	for _, s := range secretKeySuffixes() {
		if k == s || strings.HasSuffix(k, "_"+s) {
			return true
		}
	}
	return false
}

// inlineSecret reports whether value, found under key, looks like a
// secret written into the config instead of referenced: a secret-named
// key whose value holds no ${secret:...} reference, or a URL carrying a
// password.
func inlineSecret(key, value string) bool {
	if value == "" || secrets.HasRef(value) {
		return false
	}
	return secretKey(key) || urlHasPassword(value)
}

func urlHasPassword(s string) bool {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil {
		return true // cannot tell; hide it
	}
	if u.User == nil {
		return false
	}
	_, has := u.User.Password()
	return has
}

// redactedURL renders u with its password replaced by Redacted.
func redactedURL(u *url.URL) string {
	const marker = "REDACTEDPASSWORDMARKER"
	c := *u
	c.User = url.UserPassword(u.User.Username(), marker)
	return strings.Replace(c.String(), marker, Redacted, 1)
}

// redactValue returns value with any inline secret hidden: the whole value
// for a secret-named key, the password part for a URL. References are
// kept as written; they are names, not values.
func redactValue(key, value string) string {
	if !inlineSecret(key, value) {
		return value
	}
	if secretKey(key) || !strings.Contains(value, "://") {
		return Redacted
	}
	u, err := url.Parse(value)
	if err != nil || u.User == nil {
		return Redacted
	}
	return redactedURL(u)
}
