package ssh

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
)

// testServer is a minimal in-process SSH server: password and public key
// auth, and "exec" requests run by the local /bin/sh. It lets the client be
// tested without a network or a real sshd; e2e/ covers the real thing.
type testServer struct {
	t          *testing.T
	host       string
	port       int
	hostKey    xssh.Signer
	password   string
	authorized PublicKey // nil: no key accepted

	ln net.Listener
	wg sync.WaitGroup
}

func newHostSigner(t *testing.T) xssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := xssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startTestServer listens on 127.0.0.1 and serves until the test ends.
func startTestServer(t *testing.T, hostKey xssh.Signer, password string, authorized PublicKey) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, host: "127.0.0.1", port: ln.Addr().(*net.TCPAddr).Port,
		hostKey: hostKey, password: password, authorized: authorized, ln: ln}
	cfg := &xssh.ServerConfig{
		PasswordCallback: func(c xssh.ConnMetadata, pw []byte) (*xssh.Permissions, error) {
			if s.password != "" && string(pw) == s.password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
		PublicKeyCallback: func(c xssh.ConnMetadata, key PublicKey) (*xssh.Permissions, error) {
			if s.authorized != nil && string(key.Marshal()) == string(s.authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(hostKey)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn, cfg)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

func (s *testServer) serve(conn net.Conn, cfg *xssh.ServerConfig) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	sc, chans, reqs, err := xssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go xssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(xssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveSession(ch, creqs)
		}()
	}
	wg.Wait()
}

func serveSession(ch xssh.Channel, reqs <-chan *xssh.Request) {
	defer ch.Close()
	var cmd *exec.Cmd
	done := make(chan struct{})
	for req := range reqs {
		switch req.Type {
		case "exec":
			if cmd != nil || len(req.Payload) < 4 {
				_ = req.Reply(false, nil)
				continue
			}
			n := binary.BigEndian.Uint32(req.Payload)
			line := string(req.Payload[4 : 4+n])
			cmd = exec.Command("/bin/sh", "-c", line)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			cmd.WaitDelay = time.Second
			if err := cmd.Start(); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			go func() {
				defer close(done)
				_ = cmd.Wait()
				status := make([]byte, 4)
				binary.BigEndian.PutUint32(status, uint32(cmd.ProcessState.ExitCode()))
				_, _ = ch.SendRequest("exit-status", false, status)
				ch.Close()
			}()
		case "signal":
			if cmd != nil && cmd.Process != nil {
				_ = cmd.Process.Kill()
			}
			_ = req.Reply(true, nil)
		default:
			_ = req.Reply(false, nil)
		}
	}
	if cmd != nil {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	_, _ = io.Copy(io.Discard, ch)
}
