//go:build !linux

package agent

import "syscall"

// bindAddressNoPort is a Linux socket option; elsewhere a bound source
// address keeps the kernel's default port choice. The agent only runs on
// Linux; this file exists so the CLI, which shares the agent's config
// types, builds on every platform.
func bindAddressNoPort(_, _ string, _ syscall.RawConn) error { return nil }
