// Package cmdutil holds what every CLI verb shares: IO streams that tests
// can fake, output in table/TSV/JSON form, confirmation, and the error
// types that map to exit codes in one place.
package cmdutil

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the verb's input and outputs. Verbs never touch os.Stdout
// directly, so a test can run them with buffers and force TTY on or off.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stdinFD   int
}

// System returns streams bound to the process's stdio.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		stdinFD:   int(os.Stdin.Fd()),
	}
}

// Test returns streams backed by buffers: stdin, stdout, stderr.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, stdinFD: -1}, in, out, errOut
}

// IsStdoutTTY reports whether output goes to a terminal (tables, colour,
// progress) rather than a pipe (tab-separated, no decoration).
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStdinTTY reports whether a human can answer prompts.
func (s *IOStreams) IsStdinTTY() bool { return s.stdinTTY }

// StdinFD is the terminal file descriptor behind In, or -1 in tests.
func (s *IOStreams) StdinFD() int { return s.stdinFD }

// SetTTY forces both TTY flags, for tests.
func (s *IOStreams) SetTTY(in, out bool) { s.stdinTTY, s.stdoutTTY = in, out }

// ReadSecret reads one line without echo when stdin is a terminal, or one
// line from the input otherwise. The value never passes through argv.
func (s *IOStreams) ReadSecret(prompt string) ([]byte, error) {
	if s.stdinTTY && s.stdinFD >= 0 {
		_, _ = io.WriteString(s.ErrOut, prompt)
		b, err := term.ReadPassword(s.stdinFD)
		_, _ = io.WriteString(s.ErrOut, "\n")
		return b, err
	}
	return readLine(s.In)
}

func readLine(r io.Reader) ([]byte, error) {
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			line = append(line, buf[0])
		}
		if err == io.EOF {
			if len(line) == 0 {
				return nil, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return bytes.TrimSuffix(line, []byte("\r")), nil
}
