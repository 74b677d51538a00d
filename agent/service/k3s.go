package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/foundry-fleet/foundry/messages"
)

// K3sKubeconfig seals the admin kubeconfig k3s wrote to the request's
// one-call key. Only ciphertext leaves this function: the controller,
// the job record and the logs never hold the kubeconfig. host names this
// host in the error a worker or a stopped server gets.
func (m *Manager) K3sKubeconfig(_ context.Context, host string, req messages.K3sKubeconfigRequest) (messages.K3sKubeconfigReply, error) {
	f, err := os.Open(m.path(messages.K3sKubeconfigPath))
	if errors.Is(err, os.ErrNotExist) {
		return messages.K3sKubeconfigReply{}, &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf(
			"k3s has not written its kubeconfig (%s) yet on %s; is it a k3s server, and running? see foundry cluster status",
			messages.K3sKubeconfigPath, host)}
	}
	if err != nil {
		return messages.K3sKubeconfigReply{}, hostError("read "+messages.K3sKubeconfigPath, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, messages.MaxK3sKubeconfigBytes+1))
	if err != nil {
		return messages.K3sKubeconfigReply{}, hostError("read "+messages.K3sKubeconfigPath, err)
	}
	defer clear(b)
	reply, err := messages.SealK3sKubeconfig(req.Recipient, b)
	if err != nil {
		return reply, err
	}
	m.opts.Logger.Info("k3s kubeconfig sealed for a one-call key", "bytes", len(reply.Sealed))
	return reply, nil
}

// unmountUnder detaches every mount at or below dir, deepest first, so
// that deleting dir never reaches into another filesystem k3s left
// mounted there (a container's rootfs, a pod volume). It returns the
// mount points it detached.
func unmountUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	defer f.Close()
	var under []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if mp, ok := mountPoint(sc.Text()); ok && (mp == dir || strings.HasPrefix(mp, dir+"/")) {
			under = append(under, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
	var done []string
	for _, mp := range under {
		if err := detach(mp); err != nil {
			return done, fmt.Errorf("unmount %s: %w", mp, err)
		}
		done = append(done, mp)
	}
	return done, nil
}

// mountPoint is the fifth field of a mountinfo line, unescaped (the
// kernel writes space, tab, newline and backslash as \ooo).
func mountPoint(line string) (string, bool) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return "", false
	}
	s := f[4]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// removeK3sTree deletes a k3s directory after detaching what is mounted
// under it. p is a host path (without Root); mounts are only looked for
// on the real host, since a test's root holds none.
func (m *Manager) removeK3sTree(p string) error {
	if m.opts.Root == "" {
		if _, err := unmountUnder(p); err != nil {
			return err
		}
	}
	return os.RemoveAll(m.path(p))
}
