//go:build !unix

package ssh

import "os"

// signalName names the signal that killed a process.
func signalName(*os.ProcessState) string { return "unknown" }
