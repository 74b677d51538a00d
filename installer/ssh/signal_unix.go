//go:build unix

package ssh

import (
	"os"
	"syscall"
)

// signalName names the signal that killed a process, e.g. "killed".
func signalName(ps *os.ProcessState) string {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return "unknown"
}
