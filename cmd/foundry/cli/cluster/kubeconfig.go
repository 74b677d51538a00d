package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/box"

	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/installer/k3s"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// fetchKubeconfig asks the first server's agent for k3s's admin
// kubeconfig, sealed to a key made for this one call: the controller,
// the job record and every log see ciphertext only. It is rewritten to
// the API address the other machines reach and stored with the
// operator's secrets; it is never printed.
func fetchKubeconfig(ctx context.Context, s *session, p k3s.Plan) ([]byte, string, error) {
	first := p.Servers()[0]
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("make a key to receive the kubeconfig: %w", err)
	}
	rec, err := comp.RunJob(ctx, s.cl, messages.VerbK3sKubeconfig, []string{first.Host}, messages.K3sKubeconfigRequest{Recipient: pub[:]}, nil)
	if err != nil {
		return nil, "", err
	}
	if len(rec.Hosts) != 1 || rec.Hosts[0].State != messages.HostOK {
		msg := "no answer"
		if len(rec.Hosts) == 1 && rec.Hosts[0].Error != "" {
			msg = rec.Hosts[0].Error
		}
		return nil, "", fmt.Errorf("fetch the kubeconfig from %s: %s (job %s)", first.Host, msg, rec.ID)
	}
	var rep messages.K3sKubeconfigReply
	if err := json.Unmarshal(rec.Hosts[0].Result, &rep); err != nil {
		return nil, "", fmt.Errorf("the kubeconfig reply of %s does not decode: %w", first.Host, err)
	}
	kc, ok := box.OpenAnonymous(nil, rep.Sealed, pub, priv)
	if !ok {
		return nil, "", errors.New("the kubeconfig from " + first.Host + " was not sealed to this call's key; run the command again")
	}
	kc, err = kube.ForCluster(kc, k3s.ServerURL(p.APIAddress), p.Name)
	if err != nil {
		return nil, "", err
	}
	where, err := s.store.SaveKubeconfig(ctx, p.Name, kc)
	if err != nil {
		return nil, "", fmt.Errorf("keep the cluster's kubeconfig: %w", err)
	}
	return kc, where, nil
}
