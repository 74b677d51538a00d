package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync/atomic"
	"time"
)

// LocalOptions configures a Local runner.
type LocalOptions struct {
	// SudoPassword is copied; the caller may wipe its slice after NewLocal.
	// Only needed when the current user is not root and sudo asks for one.
	SudoPassword []byte
}

// Local runs commands on this machine with /bin/sh. It exists so installer
// steps can run on the controller's own host and be tested without a network.
type Local struct {
	core   core
	closed atomic.Bool
}

var _ Runner = (*Local)(nil)

// NewLocal returns a Runner for this machine.
func NewLocal(opts LocalOptions) *Local {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	l := &Local{}
	l.core = core{host: "localhost", user: name, exec: l.exec}
	if len(opts.SudoPassword) > 0 {
		l.core.sudoPass = append([]byte(nil), opts.SudoPassword...)
	}
	return l
}

// Run runs cmd.Line with /bin/sh -c on this machine.
func (l *Local) Run(ctx context.Context, cmd Command) (Result, error) {
	if l.closed.Load() {
		return Result{}, fmt.Errorf("localhost: %w", errClosed)
	}
	return l.core.run(ctx, cmd)
}

// Close wipes the sudo password. The Local runner holds nothing else.
func (l *Local) Close() error {
	l.closed.Store(true)
	l.core.wipe()
	return nil
}

func (l *Local) exec(ctx context.Context, argv []string, stdin io.Reader, tee io.Writer) (Result, string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	killGroupOnCancel(cmd)
	// A command that exits without reading all its stdin, or leaves a child
	// holding stdout open, must not hang Run.
	cmd.WaitDelay = 2 * time.Second
	stdout, stderr := newCappedBuffer(), newCappedBuffer()
	cmd.Stdout, cmd.Stderr = teeTo(stdout, tee), stderr
	var pipe io.WriteCloser // fed by feedStdin, not cmd.Stdin
	var err error
	if stdin != nil {
		if pipe, err = cmd.StdinPipe(); err != nil {
			return Result{}, "", fmt.Errorf("localhost: %w", err)
		}
	}
	if err = cmd.Start(); err != nil {
		return Result{}, "", fmt.Errorf("localhost: starting %s: %w", argv[0], err)
	}
	feed := feedStdin(pipe, stdin)
	err = cmd.Wait()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ctx.Err() != nil {
		return res, "", fmt.Errorf("localhost: %q: %w", argv[len(argv)-1], ctx.Err())
	}
	if rerr := feed.err(); rerr != nil {
		return res, "", fmt.Errorf("localhost: reading the command's stdin: %w", rerr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return res, "", nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if res.ExitCode == -1 {
			return res, signalName(ee.ProcessState), nil
		}
		return res, "", nil
	case errors.Is(err, exec.ErrWaitDelay):
		res.ExitCode = cmd.ProcessState.ExitCode()
		return res, "", nil
	default:
		return res, "", fmt.Errorf("localhost: starting %s: %w", argv[0], err)
	}
}
