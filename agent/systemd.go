package agent

import (
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Systemd returns the notify function and watchdog interval when running
// under systemd (NOTIFY_SOCKET set), or a no-op and zero otherwise.
func Systemd() (notify func(string), watchdog time.Duration) {
	notify = func(state string) { _, _ = daemon.SdNotify(false, state) }
	if wd, err := daemon.SdWatchdogEnabled(false); err == nil {
		watchdog = wd
	}
	return notify, watchdog
}
