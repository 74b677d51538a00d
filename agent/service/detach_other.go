//go:build !linux

package service

import (
	"errors"
	"os"
)

// detach: the agent runs on Linux only; other platforms build the package
// for the CLI's sake and never remove a k3s tree.
func detach(string) error { return errors.New("unmounting is supported on Linux only") }

// foreignOwner: no owner check outside Linux (the agent runs on Linux).
func foreignOwner(os.FileInfo) bool { return false }
