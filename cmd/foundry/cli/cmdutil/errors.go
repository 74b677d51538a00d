package cmdutil

import (
	"errors"
	"fmt"
)

// ErrSilent means the verb already told the user what went wrong and the
// process should only exit non-zero.
var ErrSilent = errors.New("silent error")

// ErrCancelled means the user declined a confirmation.
var ErrCancelled = errors.New("cancelled")

// FlagError is a usage mistake; the root command prints usage for it.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf builds a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// ExitCodeError carries a specific exit code, for verbs whose outcome is
// partial (some hosts missing) rather than failed.
type ExitCodeError struct {
	Code int
	Err  error
}

func (e *ExitCodeError) Error() string { return e.Err.Error() }
func (e *ExitCodeError) Unwrap() error { return e.Err }

// ErrNeedYes is what destructive verbs return when nobody can answer.
var ErrNeedYes = errors.New("--yes required when not running interactively")
