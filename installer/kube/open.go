package kube

import (
	"fmt"

	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// OpenStore keeps the cluster's secrets in OpenBAO when the stack
// configures it (Foundry's token from BAO_TOKEN/VAULT_TOKEN or `secret
// login`), else in 0600 files under home. It also returns the OpenBAO
// client (nil without OpenBAO) for the secret resolver chain. caFile is
// the CA OpenBAO's certificate chains to (Foundry's), "" for the system's.
func OpenStore(home string, cfg *stackconfig.Config, getenv func(string) string, caFile string) (*Store, *secrets.BaoClient, error) {
	addr := cfg.OpenBAOAddress()
	if addr == "" {
		return NewStore(home, nil), nil, nil
	}
	tok := getenv("BAO_TOKEN")
	if tok == "" {
		tok = getenv("VAULT_TOKEN")
	}
	if tok == "" {
		t, _, err := (&secrets.TokenStore{Dir: home, Keyring: secrets.SystemKeyring()}).Load()
		if err != nil {
			return nil, nil, fmt.Errorf("the cluster's token and kubeconfig live in OpenBAO (%s), but Foundry has no OpenBAO token: run foundry secret login (%w)", addr, err)
		}
		tok = t
	}
	bao, err := secrets.NewBaoClient(secrets.BaoOptions{Address: addr, Mount: cfg.OpenBAOMount(), Token: tok, CACert: caFile})
	if err != nil {
		return nil, nil, err
	}
	return NewStore(home, bao), bao, nil
}
