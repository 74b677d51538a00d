package config

import (
	"strings"
	"testing"
)

// TestValidateCertManagerACMEServer: a private ACME CA is issuer acme
// with an https acme_server; the server without that issuer, or that
// issuer without a server, is an error at its line.
func TestValidateCertManagerACMEServer(t *testing.T) {
	base := minimal + "components:\n  cert-manager:\n"
	p, ps := loadProblems(t, base+"    issuer: acme\n    email: ops@example.com\n    acme_server: https://ca.example.com/acme/acme/directory\n", 0o600)
	for _, pr := range ps {
		if pr.Severity == SeverityError && (strings.Contains(pr.String(), "acme") || strings.Contains(pr.String(), "issuer")) {
			t.Errorf("valid acme config: %s", pr)
		}
	}
	p, ps = loadProblems(t, base+"    issuer: acme\n    email: ops@example.com\n", 0o600)
	assertProblems(t, p, ps, e("9:3", "cert-manager issuer acme needs an acme_server", "add acme_server:"))
	p, ps = loadProblems(t, base+"    issuer: letsencrypt\n    email: ops@example.com\n    acme_server: https://ca.example.com/dir\n", 0o600)
	assertProblems(t, p, ps, e("12:18", "acme_server is set but the issuer is not acme", "set issuer: acme"))
	p, ps = loadProblems(t, base+"    issuer: acme\n    email: ops@example.com\n    acme_server: http://ca.example.com/dir\n", 0o600)
	assertProblems(t, p, ps, e("12:18", `acme_server "http://ca.example.com/dir" is not an https URL`, "ACME directory URL"))
}
