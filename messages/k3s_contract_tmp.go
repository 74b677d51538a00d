package messages

// TEMPORARY (lead): the k3s contract, until the agentk3s branch lands.
const (
	K3sComponent      = "k3s"
	K3sConfigDir      = "/etc/rancher/k3s"
	K3sDataDir        = "/var/lib/rancher/k3s"
	K3sKubeconfigPath = "/etc/rancher/k3s/k3s.yaml"
	VerbK3sKubeconfig = "k3s_kubeconfig"
)

type K3sKubeconfigRequest struct {
	Recipient []byte `json:"recipient"`
}

type K3sKubeconfigReply struct {
	Sealed []byte `json:"sealed"`
}
