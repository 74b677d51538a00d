package messages

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/nacl/box"
)

// K3sComponent is the one component an agent does not install in the
// sandboxed default layout: k3s runs containers, so it needs the host
// (root, its own cgroup tree, mounts, network namespaces), and it reads
// its files from where every k3s tool expects them. The agent decides the
// layout by this name alone, so status and remove, whose query carries
// only the component, know it too.
const K3sComponent = "k3s"

// The k3s host layout. Like the default layout it is fixed here and never
// taken from a command. The binary stays in ServiceBinDir.
const (
	K3sConfigDir      = "/etc/rancher/k3s"
	K3sDataDir        = "/var/lib/rancher/k3s"
	K3sKubeconfigPath = "/etc/rancher/k3s/k3s.yaml"
)

// K3sFiles are the only configuration files a k3s spec may carry: k3s
// writes other files into K3sConfigDir itself (k3s.yaml), and the agent
// must never take those for its own.
var K3sFiles = []string{"config.yaml", "registries.yaml", "token"}

// VerbK3sKubeconfig asks a k3s server's agent for the admin kubeconfig
// k3s wrote. It is a write verb (not in ReadOnlyVerbs): the kubeconfig is
// cluster-admin.
const VerbK3sKubeconfig = "k3s_kubeconfig"

// K3sKubeconfigRequest carries the X25519 public key the CLI made for
// this one call. The agent seals the kubeconfig to it, so the controller,
// the job record and every log only ever hold ciphertext.
type K3sKubeconfigRequest struct {
	Recipient []byte `json:"recipient"`
}

// K3sKubeconfigReply is the kubeconfig sealed with box.SealAnonymous to
// the request's Recipient.
type K3sKubeconfigReply struct {
	Sealed []byte `json:"sealed"`
}

// MaxK3sKubeconfigBytes bounds the kubeconfig an agent seals, so the
// reply (sealed, base64 in JSON) fits MaxJobResultBytes. A k3s.yaml is
// about 3 KB.
const MaxK3sKubeconfigBytes = 6000

// DecodeK3sKubeconfigRequest parses and checks a k3s_kubeconfig payload.
func DecodeK3sKubeconfigRequest(b []byte) (K3sKubeconfigRequest, error) {
	r, err := decode[K3sKubeconfigRequest](b, MaxCommandBytes, "k3s kubeconfig request")
	if err != nil {
		return r, err
	}
	if len(r.Recipient) != 32 {
		return r, &Error{Code: CodeBadRequest, Message: fmt.Sprintf(
			"k3s kubeconfig request: recipient must be a 32-byte X25519 public key, not %d bytes", len(r.Recipient))}
	}
	return r, nil
}

// DecodeK3sKubeconfigReply parses a k3s_kubeconfig reply payload.
func DecodeK3sKubeconfigReply(b []byte) (K3sKubeconfigReply, error) {
	r, err := decode[K3sKubeconfigReply](b, MaxReplyBytes, "k3s kubeconfig reply")
	if err != nil {
		return r, err
	}
	if len(r.Sealed) < box.AnonymousOverhead {
		return r, &Error{Code: CodeBadRequest, Message: "k3s kubeconfig reply is too short to be sealed"}
	}
	return r, nil
}

// SealK3sKubeconfig seals a kubeconfig to recipient (the agent's side).
func SealK3sKubeconfig(recipient []byte, kubeconfig []byte) (K3sKubeconfigReply, error) {
	if len(recipient) != 32 {
		return K3sKubeconfigReply{}, &Error{Code: CodeBadRequest, Message: "recipient must be a 32-byte X25519 public key"}
	}
	if len(kubeconfig) > MaxK3sKubeconfigBytes {
		return K3sKubeconfigReply{}, &Error{Code: CodeTooLarge, Message: fmt.Sprintf(
			"the k3s kubeconfig is %d bytes, more than the %d a reply can carry", len(kubeconfig), MaxK3sKubeconfigBytes)}
	}
	var pk [32]byte
	copy(pk[:], recipient)
	sealed, err := box.SealAnonymous(nil, kubeconfig, &pk, rand.Reader)
	if err != nil {
		return K3sKubeconfigReply{}, fmt.Errorf("seal the k3s kubeconfig: %w", err)
	}
	return K3sKubeconfigReply{Sealed: sealed}, nil
}

// NewK3sKubeconfigKey makes the one-call key pair (the CLI's side): the
// public half goes into the request, the private half opens the reply
// and is then dropped.
func NewK3sKubeconfigKey() (public, private *[32]byte, err error) {
	return box.GenerateKey(rand.Reader)
}

// OpenK3sKubeconfig opens a reply with the key pair the request was made
// with.
func OpenK3sKubeconfig(r K3sKubeconfigReply, public, private *[32]byte) ([]byte, error) {
	b, ok := box.OpenAnonymous(nil, r.Sealed, public, private)
	if !ok {
		return nil, &Error{Code: CodeBadRequest, Message: "the k3s kubeconfig reply does not open with this call's key; it was not sealed for this request"}
	}
	return b, nil
}

// validK3sFile says why name cannot be a k3s configuration file, or nil.
func validK3sFile(name string) error {
	if !slices.Contains(K3sFiles, name) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(
			"k3s config file %q is not one the agent writes; use config.yaml, registries.yaml or token", name)}
	}
	return nil
}

// validK3sArgs says why args cannot start k3s, or nil: the first is the
// k3s command, and no argument may carry a token, which would show in
// ps, in the unit and in every plan; the token goes in the secret file
// token, named in config.yaml with token-file.
func validK3sArgs(args []string) error {
	if len(args) == 0 || (args[0] != "server" && args[0] != "agent") {
		return &Error{Code: CodeBadRequest, Message: "k3s arguments must start with server or agent"}
	}
	for _, a := range args[1:] {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--token", "-t", "--agent-token":
			return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(
				"k3s argument %s would put the token on the command line; send it as the secret file token and name it in config.yaml with token-file", name)}
		}
	}
	return nil
}
