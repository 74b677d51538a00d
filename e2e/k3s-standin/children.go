package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one component this binary runs as a sub-process of itself.
// Pdeathsig makes the kernel kill it if the parent dies without cleanup
// (SIGKILL of the parent, a crash); stop() handles the orderly case.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startChild runs "<this binary> __<name> args..." with output to
// <data-dir>/logs/<name>.log, so journald keeps the stand-in's own lines
// and the noisy component logs stay on disk.
func startChild(log *slog.Logger, l layout, name string, args, env []string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	logPath := l.logs(name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", logPath, err)
	}
	cmd := exec.Command(exe, append([]string{"__" + name}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	log.Info("started", "component", name, "pid", cmd.Process.Pid, "log", logPath)
	return c, nil
}

// stop sends SIGTERM, then SIGKILL after grace.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// tail returns the last n lines of the child's log, for the parent's own
// error message when the child dies.
func (c *child) tail(n int) string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var sb strings.Builder
	for _, ln := range lines {
		sb.Write(ln)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// supervisor owns the children; the first one to exit unexpectedly ends
// the whole process (systemd restarts it, as it would k3s).
type supervisor struct {
	mu       sync.Mutex
	children []*child
	died     chan *child
}

func newSupervisor() *supervisor { return &supervisor{died: make(chan *child, 8)} }

func (s *supervisor) add(c *child) {
	s.mu.Lock()
	s.children = append(s.children, c)
	s.mu.Unlock()
	go func() {
		<-c.done
		s.died <- c
	}()
}

// stopAll stops children in reverse start order.
func (s *supervisor) stopAll(grace time.Duration) {
	s.mu.Lock()
	cs := append([]*child(nil), s.children...)
	s.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].stop(grace)
	}
}
