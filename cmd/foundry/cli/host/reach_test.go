package host

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// A controller on 127.0.0.1 hands agents a URL no other host can reach:
// add refuses at once, naming --advertise, before dialing any host.
func TestAddRefusesALoopbackOnlyController(t *testing.T) {
	c := ct.StartController(t) // listens and advertises 127.0.0.1 only
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dials atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			conn.Close()
		}
	}()
	home := t.TempDir()
	agentBin := filepath.Join(home, "foundry-agent")
	os.WriteFile(agentBin, []byte("#!/bin/sh\n"), 0o755)
	ios, in, _, _ := cmdutil.Test()
	in.WriteString("secret\n")
	port := ln.Addr().(*net.TCPAddr).Port
	opts := &AddOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Home: func() (string, error) { return home, nil },
		Keys:  func() (*secrets.SSHKeyStore, error) { return secrets.NewSSHKeyStore(secrets.SSHKeysFile, nil, home) },
		Hosts: []string{"127.0.0.1"}, ID: "web-1", User: "admin", Port: port, PasswordStdin: true, Yes: true,
		Parallel: 1, AgentBinary: agentBin, Timeout: time.Minute}
	start := time.Now()
	err = addRun(context.Background(), opts)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "--advertise") || !strings.Contains(err.Error(), "tls://127.0.0.1:"+strconv.Itoa(urlPort(c.URLs()[0]))) {
		t.Fatalf("add against a loopback-only controller: %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("refused after %s, want at once", took)
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d SSH connection(s) attempted before refusing", n)
	}
}

func urlPort(u string) int {
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(u, "tls://"))
	n, _ := strconv.Atoi(p)
	return n
}

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		urls []string
		want bool
	}{
		{[]string{"tls://127.0.0.1:4222"}, true},
		{[]string{"tls://127.0.0.1:4222", "tls://localhost:4222", "tls://[::1]:4222"}, true},
		{[]string{"tls://127.0.0.1:4222", "tls://ctl-a.example.net:4222"}, false},
		{[]string{"tls://10.0.0.5:4222"}, false},
		{nil, false},
	} {
		if got := loopbackOnly(tc.urls); got != tc.want {
			t.Errorf("loopbackOnly(%q) = %v, want %v", tc.urls, got, tc.want)
		}
	}
}
