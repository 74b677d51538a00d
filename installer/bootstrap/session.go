package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

	"github.com/foundry-fleet/foundry/installer/ssh"
)

// rootSession is one sudo'd script the installer talks with while it runs:
// the script prints a line, then runs what it reads on the rest of stdin.
type rootSession struct {
	in   *io.PipeWriter
	line chan string
	done chan error
}

// startRoot runs script as root with first, then whatever finish sends, on
// its stdin.
func startRoot(ctx context.Context, r ssh.Runner, script string, first io.Reader) *rootSession {
	pr, pw := io.Pipe()
	s := &rootSession{in: pw, line: make(chan string, 1), done: make(chan error, 1)}
	go func() {
		_, err := r.Run(ctx, ssh.Command{Line: script, Stdin: io.MultiReader(first, pr), Stdout: &firstLine{ch: s.line}, Sudo: true})
		pr.Close() // a finish after the end must not block
		s.done <- err
	}()
	return s
}

// firstLine waits for the script's first line of output. A script that
// ends before printing one fails with its own error.
func (s *rootSession) firstLine() (string, error) {
	select {
	case l := <-s.line:
		return l, nil
	case err := <-s.done:
		s.done <- err // for finish
		if err == nil {
			err = errors.New("the install script ended without printing the agent's public key")
		}
		return "", err
	}
}

// finish sends the second half (possibly empty), closes stdin and waits
// for the script to end.
func (s *rootSession) finish(rest string) error {
	_, _ = io.WriteString(s.in, rest)
	s.in.Close()
	return <-s.done
}

// firstLine is an io.Writer that hands on the first complete line written.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	ch   chan string
}

func (w *firstLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
		w.sent = true
		w.ch <- string(bytes.TrimSpace(w.buf[:i]))
		w.buf = nil
	} else if len(w.buf) > 4096 {
		w.sent = true // not a key line: enrolling it fails and says so
		w.ch <- string(w.buf[:64])
		w.buf = nil
	}
	return len(p), nil
}
