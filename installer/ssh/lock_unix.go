//go:build unix

package ssh

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f, released when f is closed, so two
// Foundry processes never interleave writes to known_hosts.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
