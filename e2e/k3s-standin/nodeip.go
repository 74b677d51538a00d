package main

import (
	"fmt"
	"net"
	"net/url"
)

// defaultNodeIP is k3s's choice when node-ip is not given: the address
// this host uses to reach the server it joins, else the first global
// IPv4 address of an interface that is up, else 127.0.0.1. The UDP
// "dial" only asks the kernel for a route; it sends nothing.
func defaultNodeIP(serverURL string) (string, error) {
	if serverURL != "" {
		u, err := url.Parse(serverURL)
		if err != nil {
			return "", fmt.Errorf("server URL: %w", err)
		}
		port := u.Port()
		if port == "" {
			port = "6443"
		}
		if c, err := net.Dial("udp", net.JoinHostPort(u.Hostname(), port)); err == nil {
			defer c.Close()
			return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String(), nil
			}
		}
	}
	return "127.0.0.1", nil
}
