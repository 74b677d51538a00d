package agent

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindAddressNoPort makes a socket bound to a chosen source address take
// its port at connect time, from the whole 4-tuple space, instead of at
// bind time from ports no other socket holds (IP_BIND_ADDRESS_NO_PORT).
// Without it tens of thousands of bound sockets make every bind scan the
// kernel's port table.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
