package cmdutil

import (
	"os"
	"path/filepath"
)

// FoundryCA is the PEM file of Foundry's CA as this CLI knows it: --ca
// when given, else the controller's ca.pem in Foundry's home when the
// controller runs here. Services Foundry installs with TLS (OpenBAO)
// carry certificates from that CA, so clients of them trust this file.
// It is "" when neither exists, and the system roots apply.
func (f *Factory) FoundryCA() string {
	if f.Conn.CA != "" {
		return f.Conn.CA
	}
	if f.Home == nil {
		return ""
	}
	home, err := f.Home()
	if err != nil {
		return ""
	}
	p := filepath.Join(home, "controller", "ca.pem")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
