package ssh

import (
	"context"
	"fmt"
	"io"
	"os"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// ShellIO is the terminal an interactive shell is attached to. FD is the
// terminal's file descriptor when In is a terminal, or -1.
type ShellIO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	FD     int
}

// Shell opens an interactive login shell on the host, with a PTY when the
// caller has a terminal (put into raw mode for the session and restored
// after). It returns the shell's exit status as an *ExitError when non-zero.
func (c *Client) Shell(ctx context.Context, sio ShellIO) error {
	sess, err := c.client.NewSession()
	if err != nil {
		return fmt.Errorf("%s: opening an ssh session: %w", c.addr, err)
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = sio.In, sio.Out, sio.ErrOut
	if sio.FD >= 0 && term.IsTerminal(sio.FD) {
		w, h, err := term.GetSize(sio.FD)
		if err != nil {
			w, h = 80, 24
		}
		termName := os.Getenv("TERM")
		if termName == "" {
			termName = "xterm-256color"
		}
		if err := sess.RequestPty(termName, h, w, xssh.TerminalModes{xssh.ECHO: 1}); err != nil {
			return fmt.Errorf("%s: requesting a terminal: %w", c.addr, err)
		}
		old, err := term.MakeRaw(sio.FD)
		if err != nil {
			return fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		defer term.Restore(sio.FD, old)
	}
	if err := sess.Shell(); err != nil {
		return fmt.Errorf("%s: starting a shell: %w", c.addr, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case <-ctx.Done():
		_ = sess.Signal(xssh.SIGHUP)
		return ctx.Err()
	case err := <-done:
		if ee, ok := err.(*xssh.ExitError); ok {
			return &ExitError{Host: c.addr, Command: "shell", ExitCode: ee.ExitStatus()}
		}
		return err
	}
}
