//go:build !unix

package ssh

import (
	"os"
	"os/exec"
)

// signalName names the signal that killed a process.
func signalName(*os.ProcessState) string { return "unknown" }

// killGroupOnCancel keeps exec's default: kill the process itself.
func killGroupOnCancel(*exec.Cmd) {}
