package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

// Annotations the stand-in puts on its Node.
const (
	annKwok       = "kwok.x-k8s.io/node"
	annStandin    = "k3s-standin.foundry.dev/stand-in"
	annRegistries = "k3s-standin.foundry.dev/registries"
	annDisabled   = "k3s-standin.foundry.dev/disabled"
)

// nodeObject builds the Node this process registers, as a kubelet would,
// plus the labels k3s adds and the annotations kwok and tests look for.
func nodeObject(c *Config, reg *Registries, runsEtcd bool) (*corev1.Node, error) {
	labels := map[string]string{
		"kubernetes.io/hostname":           c.NodeName,
		"kubernetes.io/os":                 runtime.GOOS,
		"kubernetes.io/arch":               runtime.GOARCH,
		"beta.kubernetes.io/os":            runtime.GOOS,
		"beta.kubernetes.io/arch":          runtime.GOARCH,
		"node.kubernetes.io/instance-type": "k3s",
	}
	if c.Mode == "server" {
		labels["node-role.kubernetes.io/control-plane"] = "true"
		labels["node-role.kubernetes.io/master"] = "true"
		if runsEtcd {
			labels["node-role.kubernetes.io/etcd"] = "true"
		}
	}
	for _, kv := range c.NodeLabels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("node-label %q: want key=value", kv)
		}
		labels[k] = v
	}
	taints := make([]corev1.Taint, 0, len(c.NodeTaints))
	for _, t := range c.NodeTaints {
		taint, err := parseTaint(t)
		if err != nil {
			return nil, err
		}
		taints = append(taints, taint)
	}
	regJSON, err := reg.annotation()
	if err != nil {
		return nil, err
	}
	disabled, err := json.Marshal(append([]string{}, c.Disable...))
	if err != nil {
		return nil, fmt.Errorf("encode disable: %w", err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
		// A kubelet reports its root filesystem; charts that request
		// ephemeral-storage (Bitnami's resource presets) are
		// unschedulable on a node without it.
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(diskTotal(c.DataDir), resource.BinarySI),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   c.NodeName,
			Labels: labels,
			Annotations: map[string]string{
				annKwok:       "fake",
				annStandin:    "true",
				annRegistries: regJSON,
				annDisabled:   string(disabled),
			},
		},
		Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: c.NodeIP},
				{Type: corev1.NodeHostName, Address: c.NodeName},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          standinVersion(),
				KubeProxyVersion:        standinVersion(),
				ContainerRuntimeVersion: "kwok://simulated",
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
				OSImage:                 "k3s stand-in (kwok-simulated kubelet)",
				KernelVersion:           kernelVersion(),
			},
		},
	}, nil
}

// parseTaint reads k3s's node-taint form key[=value]:Effect.
func parseTaint(s string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(s, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("node-taint %q: want key=value:Effect", s)
	}
	switch corev1.TaintEffect(effect) {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return corev1.Taint{}, fmt.Errorf("node-taint %q: unknown effect %q", s, effect)
	}
	k, v, _ := strings.Cut(kv, "=")
	return corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)}, nil
}

// registerNode creates the Node, or on restart updates what this process
// owns (labels, annotations, taints, addresses, nodeInfo) and keeps the rest.
// It retries until ctx ends, since the API may still be starting.
func registerNode(ctx context.Context, log *slog.Logger, cs kubernetes.Interface, want *corev1.Node) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		err := applyNode(ctx, cs, want)
		if err == nil {
			log.Info("node registered", "node", want.Name)
			return nil
		}
		log.Info("node registration pending", "node", want.Name, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("register node %s: %w (last: %v)", want.Name, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func applyNode(ctx context.Context, cs kubernetes.Interface, want *corev1.Node) error {
	_, err := cs.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if err == nil || !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := cs.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cur.Labels == nil {
		cur.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		cur.Labels[k] = v
	}
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	for k, v := range want.Annotations {
		cur.Annotations[k] = v
	}
	cur.Spec.Taints = mergeTaints(cur.Spec.Taints, want.Spec.Taints)
	cur, err = cs.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	cur.Status.Addresses = want.Status.Addresses
	cur.Status.NodeInfo = want.Status.NodeInfo
	cur.Status.Capacity = want.Status.Capacity
	cur.Status.Allocatable = want.Status.Allocatable
	_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	return err
}

// mergeTaints keeps taints set by controllers (not-ready, unreachable,
// cordon) and adds or replaces the configured ones by key and effect.
func mergeTaints(cur, want []corev1.Taint) []corev1.Taint {
	out := append([]corev1.Taint{}, want...)
	for _, t := range cur {
		dup := false
		for _, w := range want {
			dup = dup || (w.Key == t.Key && w.Effect == t.Effect)
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

// diskTotal is the size of the filesystem holding dir, as a kubelet
// reports its root directory's.
func diskTotal(dir string) int64 {
	var st syscall.Statfs_t
	if dir == "" || syscall.Statfs(dir, &st) != nil {
		if syscall.Statfs("/", &st) != nil {
			return 100 << 30
		}
	}
	return int64(st.Blocks) * int64(st.Bsize)
}

// memTotal reads MemTotal so the node's capacity looks like the host's.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 8 << 30
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return kb * 1024
			}
		}
	}
	return 8 << 30
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// kwokStages are the Stage objects from kwok's kustomize/stage/node/fast,
// node/heartbeat-with-lease and pod/fast, embedded through kwok's own
// packages: nodes turn Ready and renew their Lease, pods turn Running, and
// pods owned by Jobs complete (so Helm hook Jobs finish).
func kwokStages() string {
	return strings.Join([]string{
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}, "\n---\n")
}

// podCIDR gives each node its own /24 of cluster-cidr for kwok's fake pod
// IPs, chosen by a hash of the name (nodeipam is off, as nothing routes).
func podCIDR(clusterCIDR, node string) string {
	_, n, err := net.ParseCIDR(clusterCIDR)
	ip4 := net.IP(nil)
	if err == nil {
		ip4 = n.IP.To4()
	}
	if ip4 == nil {
		return "10.42.0.0/24"
	}
	h := fnv.New32a()
	h.Write([]byte(node))
	ones, _ := n.Mask.Size()
	ip := append(net.IP{}, ip4...)
	if ones <= 16 {
		ip[2] = byte(h.Sum32())
	}
	ip[3] = 0
	return ip.String() + "/24"
}

// startKwok runs kwok for this node only.
func startKwok(log *slog.Logger, l layout, sup *supervisor, c *Config, kubeconfig string) error {
	stages := l.agent("kwok-stages.yaml")
	if err := writeFile(stages, []byte(kwokStages()), 0o644); err != nil {
		return err
	}
	home := l.agent("kwok-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("kwok home: %w", err)
	}
	ch, err := startChild(log, l, "kwok", []string{
		"--kubeconfig=" + kubeconfig,
		"--config=" + stages,
		"--manage-single-node=" + c.NodeName,
		"--node-name=" + c.NodeName,
		"--node-ip=" + c.NodeIP,
		"--cidr=" + podCIDR(c.ClusterCIDR, c.NodeName),
		"--node-lease-duration-seconds=40",
	}, []string{"HOME=" + home})
	if err != nil {
		return err
	}
	sup.add(ch)
	return nil
}
