package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// NoSudoError says why a user cannot become root with sudo on a host.
type NoSudoError struct {
	User   string
	Host   string
	Detail string // what sudo said, or what was missing
}

func (e *NoSudoError) Error() string {
	msg := fmt.Sprintf("user %s cannot use sudo on %s; add it to the sudo group or use --user with a sudo-capable account", e.User, e.Host)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrNoSudo) true.
func (e *NoSudoError) Is(target error) bool { return target == ErrNoSudo }

// SudoPasswordError reports that sudo rejected the password it was given.
type SudoPasswordError struct {
	User string
	Host string
}

func (e *SudoPasswordError) Error() string {
	return fmt.Sprintf("sudo on %s rejected the password of user %s; check the sudo password", e.Host, e.User)
}

// Is makes errors.Is(err, ErrSudoPassword) true.
func (e *SudoPasswordError) Is(target error) bool { return target == ErrSudoPassword }

// execFunc runs argv on the host (over SSH the words are joined with Quote)
// and returns its output and exit code. err is only for failing to run it;
// signal is set when the command was killed by a signal.
type execFunc func(ctx context.Context, argv []string, stdin io.Reader, stdout io.Writer) (res Result, signal string, err error)

type sudoMode int

const (
	sudoUnknown  sudoMode = iota
	sudoRoot              // the user is root: run directly
	sudoNoPasswd          // sudo -n works
	sudoPassword          // sudo needs the password (checked by the first command)
)

// probeSudo decides how to become root, without sudo and without a password.
// "sudo -n -k true" succeeds only for NOPASSWD users: -k ignores any cached
// credential, so the answer does not depend on what ran before.
const probeSudo = `if [ "$(id -u)" = 0 ]; then echo root; ` +
	`elif ! command -v sudo >/dev/null 2>&1; then echo nosudo; ` +
	`elif sudo -n -k true >/dev/null 2>&1; then echo nopasswd; ` +
	`else echo password; fi`

// core is what Client and Local share: command wrapping, sudo and errors.
type core struct {
	host string // for messages: "10.77.0.11:22", "localhost"
	user string
	exec execFunc

	mu       sync.Mutex
	mode     sudoMode
	sudoErr  error  // a definitive sudo failure, returned again without asking
	sudoPass []byte // our own copy, wiped by wipe
}

func (c *core) wipe() {
	c.mu.Lock()
	defer c.mu.Unlock()
	zero(c.sudoPass)
	c.sudoPass = nil
}

// run is Runner.Run for both implementations.
func (c *core) run(ctx context.Context, cmd Command) (Result, error) {
	if err := validateLine(cmd.Line); err != nil {
		return Result{}, fmt.Errorf("%s: %w", c.host, err)
	}
	argv := []string{"sh", "-c", cmd.Line}
	stdin := cmd.Stdin
	display := cmd.Line
	if cmd.Sudo {
		display = "sudo " + cmd.Line
		mode, pw, err := c.sudoModeAndPassword(ctx)
		if err != nil {
			return Result{}, err
		}
		switch mode {
		case sudoNoPasswd:
			argv = append([]string{"sudo", "-n", "--"}, argv...)
		case sudoPassword:
			// -S reads the password from the first line of stdin (sudo reads
			// it byte by byte, so the rest stays for the command), -p ''
			// prints no prompt, -k never uses a cached credential so the
			// password line is always consumed by sudo and never reaches the
			// command.
			argv = append([]string{"sudo", "-k", "-S", "-p", "", "--"}, argv...)
			defer zero(pw)
			stdin = withPassword(pw, stdin)
		}
	}
	res, sig, err := c.exec(ctx, argv, stdin, cmd.Stdout)
	if err != nil {
		return res, err
	}
	if res.ExitCode == 0 && sig == "" {
		return res, nil
	}
	if cmd.Sudo {
		if serr := c.classifySudo(res.Stderr); serr != nil {
			c.mu.Lock()
			c.sudoErr = serr // definitive: later commands fail at once
			c.mu.Unlock()
			return res, serr
		}
	}
	return res, &ExitError{Host: c.host, Command: display, Stderr: res.Stderr, ExitCode: res.ExitCode, Signal: sig}
}

// withPassword returns a reader yielding pw, a newline, then stdin.
func withPassword(pw []byte, stdin io.Reader) io.Reader {
	r := bytes.NewReader(pw)
	if stdin == nil {
		return r
	}
	return io.MultiReader(r, stdin)
}

// sudoModeAndPassword finds out once how this user becomes root. For
// sudoPassword it returns a fresh copy of "password\n" for the caller to wipe.
func (c *core) sudoModeAndPassword(ctx context.Context) (sudoMode, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sudoErr != nil {
		return sudoUnknown, nil, c.sudoErr
	}
	if c.mode == sudoUnknown {
		mode, err := c.probe(ctx)
		if err != nil {
			return sudoUnknown, nil, err
		}
		c.mode = mode
	}
	if c.mode != sudoPassword {
		return c.mode, nil, nil
	}
	return c.mode, c.passwordLine(), nil
}

// passwordLine returns a copy of the sudo password followed by a newline.
// The caller holds c.mu.
func (c *core) passwordLine() []byte {
	line := make([]byte, len(c.sudoPass)+1)
	copy(line, c.sudoPass)
	line[len(line)-1] = '\n'
	return line
}

// probe runs probeSudo. Definitive answers (no sudo, no password where
// one is needed) are remembered in c.sudoErr; transient failures are
// returned and retried by the next sudo command. The caller holds c.mu.
func (c *core) probe(ctx context.Context) (sudoMode, error) {
	res, _, err := c.exec(ctx, []string{"sh", "-c", probeSudo}, nil, nil)
	if err != nil {
		return sudoUnknown, fmt.Errorf("%s: checking how user %s uses sudo: %w", c.host, c.user, err)
	}
	switch strings.TrimSpace(res.Stdout) {
	case "root":
		return sudoRoot, nil
	case "nopasswd":
		return sudoNoPasswd, nil
	case "nosudo":
		c.sudoErr = &NoSudoError{User: c.user, Host: c.host, Detail: "sudo is not installed"}
		return sudoUnknown, c.sudoErr
	case "password":
	default:
		return sudoUnknown, fmt.Errorf("%s: checking how user %s uses sudo: unexpected answer %q (stderr %q)",
			c.host, c.user, tail(res.Stdout, 200), tail(res.Stderr, 200))
	}
	if len(c.sudoPass) == 0 {
		c.sudoErr = &NoSudoError{User: c.user, Host: c.host, Detail: "sudo asks for a password and none was given"}
		return sudoUnknown, c.sudoErr
	}
	// The password is not checked by a command of its own: each check
	// costs the host a session, a sudo and a password hash, and the first
	// real command finds a wrong password just as well, without running
	// (sudo runs nothing until it accepts the password; run classifies
	// and remembers its refusal).
	return sudoPassword, nil
}

// classifySudo turns sudo's own refusals into NoSudoError or
// SudoPasswordError, and returns nil for anything else.
func (c *core) classifySudo(stderr string) error {
	for _, line := range strings.Split(stderr, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.Contains(l, "is not in the sudoers file"),
			strings.Contains(l, "may not run sudo on"),
			strings.HasPrefix(l, "Sorry, user") && strings.Contains(l, "is not allowed to execute"):
			return &NoSudoError{User: c.user, Host: c.host, Detail: "sudo: " + strings.TrimPrefix(l, "sudo: ")}
		case strings.HasPrefix(l, "sudo: ") && strings.Contains(l, "incorrect password attempt"):
			return &SudoPasswordError{User: c.user, Host: c.host}
		case strings.HasPrefix(l, "sudo: ") && (strings.Contains(l, "a password is required") ||
			strings.Contains(l, "a terminal is required") || strings.Contains(l, "no tty present")):
			return &NoSudoError{User: c.user, Host: c.host, Detail: "sudo asks for a password and none was given"}
		}
	}
	return nil
}

// errClosed is returned by Run after Close.
var errClosed = errors.New("runner is closed")
