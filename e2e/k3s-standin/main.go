// Command k3s is a STAND-IN for the k3s binary, built from real upstream
// Kubernetes for Foundry's end-to-end tests.
//
// It is not k3s. It accepts the part of k3s's command line and files that
// Foundry uses (k3s server, k3s agent, /etc/rancher/k3s/config.yaml,
// registries.yaml, k3s.yaml, node-token) and behind them runs the real
// kube-apiserver, kube-controller-manager and kube-scheduler (v1.35.4) with
// embedded etcd. Containers are simulated: kwok plays the kubelet for the
// node this process registers, so pods turn Running but never run anything.
//
// The binary is multi-call: the control-plane components and kwok run as
// child processes of this same executable (hidden sub-commands starting with
// "__"), so each host needs one file, as with k3s.
package main

import (
	"fmt"
	"os"
)

// standinBanner is printed at start so nobody mistakes logs of this binary
// for a real k3s.
const standinBanner = "k3s STAND-IN (Foundry e2e): real kube-apiserver/controller-manager/scheduler/etcd, kwok-simulated kubelet; NOT k3s"

func main() {
	os.Exit(run(os.Args))
}

// run dispatches on the first argument. Hidden sub-commands run one
// upstream component in this process; they are what the server starts as
// children.
func run(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, standinBanner)
		fmt.Fprintln(os.Stderr, "usage: k3s server|agent [flags]  |  k3s --version")
		return 2
	}
	switch args[1] {
	case "__kube-apiserver", "__kube-controller-manager", "__kube-scheduler", "__kwok":
		return runComponent(args[1], args[2:])
	case "__nodes":
		return runNodes(args[2:])
	case "--version", "-v", "version":
		fmt.Printf("k3s version %s (stand-in)\n", standinVersion())
		return 0
	case "server", "agent":
		return runMode(args[1], args[2:])
	default:
		fmt.Fprintf(os.Stderr, "k3s stand-in: unknown command %q (want server or agent)\n", args[1])
		return 2
	}
}
