// Command fakek3s is a TEST DOUBLE of k3s for the agent's k3s layout
// e2e test (e2e/k3slayout_test.go). It runs no Kubernetes at all (the
// k3s stand-in with a real API server is elsewhere); it only behaves the
// way the agent's unit and files must suit k3s:
//
//   - `fakek3s server|agent` reads /etc/rancher/k3s/config.yaml and the
//     token file it names with `token-file:` (so a token the root-only
//     file mode kept from it would fail the start), and exits on any
//     other first argument;
//   - a server writes /etc/rancher/k3s/k3s.yaml (a fake kubeconfig,
//     mode 0600) and /var/lib/rancher/k3s/server/node-token;
//   - it starts one child that outlives a stop under KillMode=process,
//     as containerd's shims do, so remove must kill it;
//   - it sends READY=1 on $NOTIFY_SOCKET once it serves
//     http://127.0.0.1:10248/healthz (the kubelet's healthz port), which
//     answers "ok <server|agent> uid=<uid>".
package main

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	configFile = "/etc/rancher/k3s/config.yaml"
	kubeconfig = "/etc/rancher/k3s/k3s.yaml"
	dataDir    = "/var/lib/rancher/k3s"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: fakek3s server|agent")
	}
	mode := os.Args[1]
	switch mode {
	case "child":
		for { // a container shim: lives until killed
			time.Sleep(time.Hour)
		}
	case "server", "agent":
	default:
		log.Fatalf("fakek3s: unknown command %q", mode)
	}
	tokenFile, err := tokenFileOf(configFile)
	if err != nil {
		log.Fatalf("fakek3s: %v", err)
	}
	if tokenFile != "" {
		tok, err := os.ReadFile(tokenFile)
		if err != nil || len(strings.TrimSpace(string(tok))) == 0 {
			log.Fatalf("fakek3s: token file %s: %v (empty: %v)", tokenFile, err, len(tok) == 0)
		}
	}
	if mode == "server" {
		if err := os.MkdirAll(filepath.Join(dataDir, "server"), 0o700); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataDir, "server", "node-token"), []byte("K10fake::server:node\n"), 0o600); err != nil {
			log.Fatal(err)
		}
		kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n"+
			"users:\n- name: default\n  user:\n    client-key-data: fakek3s-%d\n", time.Now().UnixNano())
		if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
			log.Fatal(err)
		}
	} else if err := os.MkdirAll(filepath.Join(dataDir, "agent"), 0o700); err != nil {
		log.Fatal(err)
	}
	child := exec.Command("/proc/self/exe", "child")
	if err := child.Start(); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:10248")
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %s uid=%d", mode, os.Getuid())
	})
	if err := notifyReady(); err != nil {
		log.Fatalf("fakek3s: %v", err)
	}
	log.Printf("fakek3s %s ready (child pid %d)", mode, child.Process.Pid)
	log.Fatal(http.Serve(ln, nil))
}

// tokenFileOf reads the token-file setting from a flat config.yaml.
func tokenFileOf(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "token-file" {
			return strings.Trim(strings.TrimSpace(v), `"`), nil
		}
	}
	return "", sc.Err()
}

// notifyReady sends READY=1 to systemd, as k3s does under Type=notify.
func notifyReady() error {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return fmt.Errorf("NOTIFY_SOCKET is not set; run me under Type=notify")
	}
	if strings.HasPrefix(sock, "@") {
		sock = "\x00" + sock[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte("READY=1"))
	return err
}
