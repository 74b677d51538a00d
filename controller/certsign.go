package controller

import (
	"context"

	"github.com/foundry-fleet/foundry/messages"
)

// SignCert signs a server certificate for a service Foundry installs, so
// that service (OpenBAO) speaks TLS that every Foundry client already
// trusts: the CA agents and CLIs pin. The caller keeps the private key.
func (c *Controller) SignCert(_ context.Context, req messages.CertSignRequest) (messages.CertSignResult, error) {
	if err := req.Validate(); err != nil {
		return messages.CertSignResult{}, err
	}
	if c.certs == nil {
		return messages.CertSignResult{}, &messages.Error{Code: messages.CodeBadRequest, Message: "this controller runs without TLS and has no CA; restart it without --insecure-plaintext"}
	}
	c.certs.mu.Lock()
	pemCert, leaf, err := c.certs.mat.SignService([]byte(req.CSRPEM), req.Service, req.Names)
	caPEM := string(c.certs.mat.CAPEM)
	c.certs.mu.Unlock()
	if err != nil {
		return messages.CertSignResult{}, &messages.Error{Code: messages.CodeBadRequest, Message: err.Error()}
	}
	c.logger.Info("service certificate signed", "service", req.Service, "serial", leaf.SerialNumber.Text(16), "names", req.Names)
	return messages.CertSignResult{CertPEM: string(pemCert), CAPEM: caPEM, Serial: leaf.SerialNumber.Text(16), NotAfter: leaf.NotAfter.UnixMilli()}, nil
}
