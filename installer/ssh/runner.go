// Package ssh runs commands on a host. It is used once per host, to drop the
// Foundry agent; everything after that goes over NATS.
//
// Runner is the one interface for "run a command somewhere": Client runs over
// SSH (golang.org/x/crypto/ssh) and Local runs on this machine (os/exec), so
// the installer's steps are written and tested once against both.
//
// Three rules hold everywhere in this package:
//
//   - Host keys are always verified against Foundry's own known_hosts file;
//     unknown keys are pinned only after a TrustPrompt accepts them, and a
//     changed key is refused.
//   - Secrets never go on a command line: the sudo password is the first line
//     of stdin, file contents are streamed on stdin. Command.Line ends up in the
//     host's process list and in errors, so it must not hold secrets either.
//   - A failed command is an *ExitError carrying the command, its stderr and
//     exit code, so callers can report what failed and why.
package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Command is one shell command line to run on a host.
type Command struct {
	// Line is run by /bin/sh -c on the host. It must not contain secrets: it
	// is visible in the host's process list and copied into errors. Pass
	// secrets on Stdin.
	Line string
	// Stdin, if not nil, is streamed to the command's standard input.
	Stdin io.Reader
	// Sudo runs Line as root through sudo (directly if the user is root).
	Sudo bool
	// Stdout, if not nil, also gets the standard output as it arrives, for
	// a caller that talks with the command while it runs (Result.Stdout
	// still holds all of it).
	Stdout io.Writer
}

// Result is what a finished command printed and how it exited.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Runner runs commands on one host. It is the only way the installer touches
// a host before the agent runs there. Implementations are safe for concurrent
// use.
type Runner interface {
	// Run runs cmd and waits for it. A non-zero exit returns the Result and an
	// *ExitError; a failure to run at all returns another error.
	Run(ctx context.Context, cmd Command) (Result, error)
	// Close releases the connection and wipes the secrets the Runner holds.
	Close() error
}

// Errors callers branch on with errors.Is. The concrete errors carry the host,
// user and details and explain what to do.
var (
	// ErrNoSudo means the user cannot become root with sudo on the host.
	ErrNoSudo = errors.New("cannot use sudo")
	// ErrSudoPassword means sudo rejected the given password.
	ErrSudoPassword = errors.New("sudo rejected the password")
	// ErrAuth means the SSH server rejected every credential offered.
	ErrAuth = errors.New("ssh authentication failed")
	// ErrUnreachable means no TCP connection to the SSH port could be made.
	ErrUnreachable = errors.New("host unreachable")
	// ErrHostKeyChanged means the host offered a key other than the pinned one.
	ErrHostKeyChanged = errors.New("host key changed")
	// ErrHostKeyUnknown means the host key is not pinned and was not accepted.
	ErrHostKeyUnknown = errors.New("host key not trusted")
)

// ExitError reports a command that ran and exited non-zero (or was killed by
// a signal). Command is Command.Line as given by the caller (prefixed with
// "sudo " when run through sudo): it never contains the sudo password.
type ExitError struct {
	Host     string
	Command  string
	Stderr   string
	ExitCode int    // -1 when killed by a signal
	Signal   string // signal name when killed by a signal, else ""
}

func (e *ExitError) Error() string {
	how := fmt.Sprintf("exited with status %d", e.ExitCode)
	if e.Signal != "" {
		how = "was killed by signal " + e.Signal
	}
	msg := fmt.Sprintf("%s: command %q %s", e.Host, e.Command, how)
	if s := tail(e.Stderr, 600); s != "" {
		msg += ": " + s
	}
	return msg
}

// tail returns the last n bytes of s's trimmed text, on one line.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

// maxOutput bounds how much of stdout and of stderr a Result keeps, so a
// chatty command cannot exhaust the CLI's memory.
const maxOutput = 8 << 20

// teeTo returns w, also writing to extra when that is set.
func teeTo(w io.Writer, extra io.Writer) io.Writer {
	if extra == nil {
		return w
	}
	return io.MultiWriter(w, extra)
}

// cappedBuffer keeps the first max bytes written and counts the rest.
type cappedBuffer struct {
	buf     bytes.Buffer
	max     int
	dropped int64
}

func newCappedBuffer() *cappedBuffer { return &cappedBuffer{max: maxOutput} }

func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.buf.Len()
	switch {
	case room >= len(p):
		b.buf.Write(p)
	case room > 0:
		b.buf.Write(p[:room])
		b.dropped += int64(len(p) - room)
	default:
		b.dropped += int64(len(p))
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	if b.dropped > 0 {
		return b.buf.String() + fmt.Sprintf("\n[foundry: %d more bytes of output dropped]\n", b.dropped)
	}
	return b.buf.String()
}

// stdinFeed is a command's stdin copy running in its own goroutine rather
// than the library's (exec.Cmd.Stdin, ssh.Session.Stdin): Wait would wait
// for that one, and a caller's reader that blocks — more input only after
// some output, or never ending — would hang Run after the command exited.
type stdinFeed chan error

// feedStdin copies stdin into pipe and closes it; a nil stdin feeds nothing.
func feedStdin(pipe io.WriteCloser, stdin io.Reader) stdinFeed {
	f := make(stdinFeed, 1)
	if stdin == nil {
		return f
	}
	go func() {
		in := &readErrReader{r: stdin}
		_, _ = io.Copy(pipe, in)
		f <- in.err
		pipe.Close()
	}()
	return f
}

// err is the error reading the caller's stdin, if the copy has ended with
// one; nil while it still runs.
func (f stdinFeed) err() error {
	select {
	case err := <-f:
		return err
	default:
		return nil
	}
}

// readErrReader remembers an error returned by the wrapped reader, so a
// failure to read the caller's stdin is not mistaken for the remote end
// closing its input early.
type readErrReader struct {
	r   io.Reader
	err error
}

func (r *readErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// validateLine rejects lines that cannot be passed to sh intact.
func validateLine(line string) error {
	if strings.TrimSpace(line) == "" {
		return errors.New("empty command line")
	}
	if strings.IndexByte(line, 0) >= 0 {
		return errors.New("command line contains a NUL byte")
	}
	return nil
}

// zero overwrites b; used for password copies once they are no longer needed.
func zero(b []byte) { clear(b) }
