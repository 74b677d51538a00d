package service

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// detach lazily unmounts mp; one already gone is not an error.
func detach(mp string) error {
	if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// foreignOwner says the file belongs to another user than the agent's.
func foreignOwner(st os.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) != os.Geteuid()
}
