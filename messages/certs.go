package messages

import (
	"fmt"
	"net/netip"
	"strings"
)

// APICertSign asks the controller to sign a server certificate for a
// service Foundry installs (OpenBAO), with Foundry's CA. Admin only.
var APICertSign = MustAPISubject("cert", "sign")

// Bounds of a certificate request.
const (
	MaxCertNames = 64
	maxCSRBytes  = 8 << 10
)

// CertSignRequest carries a PEM certificate request: the caller keeps the
// private key, so the controller, its audit records and NATS see only the
// public half. Names are the DNS names and IP addresses to certify; they
// replace any the request itself lists.
type CertSignRequest struct {
	CSRPEM  string   `json:"csr_pem"`
	Names   []string `json:"names"`
	Service string   `json:"service"` // e.g. "openbao", the certificate's common name
}

// Validate bounds the request before any parsing.
func (r CertSignRequest) Validate() error {
	bad := func(msg string) error { return &Error{Code: CodeBadRequest, Message: msg} }
	switch {
	case r.CSRPEM == "" || len(r.CSRPEM) > maxCSRBytes:
		return bad(fmt.Sprintf("certificate request must be a PEM CSR of at most %d bytes", maxCSRBytes))
	case !validName(r.Service):
		return bad(fmt.Sprintf("service %q is not a component name", r.Service))
	case len(r.Names) == 0 || len(r.Names) > MaxCertNames:
		return bad(fmt.Sprintf("a certificate needs 1 to %d names, got %d", MaxCertNames, len(r.Names)))
	}
	for _, n := range r.Names {
		if _, err := netip.ParseAddr(n); err == nil {
			continue
		}
		if !dnsName(n) {
			return bad(fmt.Sprintf("certificate name %q is neither a DNS name nor an IP address", n))
		}
	}
	return nil
}

// CertSignResult is the signed certificate and the CA that signed it.
type CertSignResult struct {
	CertPEM  string `json:"cert_pem"`
	CAPEM    string `json:"ca_pem"`
	Serial   string `json:"serial"`
	NotAfter int64  `json:"not_after"` // unix ms
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
