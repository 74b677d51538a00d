//go:build unix

package ssh

import (
	"os"
	"os/exec"
	"syscall"
)

// signalName names the signal that killed a process, e.g. "killed".
func signalName(ps *os.ProcessState) string {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return "unknown"
}

// killGroupOnCancel runs cmd in its own process group and, when its context
// ends, kills the whole group: a cancelled "sh -c 'a; b'" must not leave
// its children running.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
