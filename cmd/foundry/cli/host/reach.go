package host

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// loopbackOnly reports whether every URL the controller hands to agents
// names this machine's loopback: an agent on another host would dial its
// own 127.0.0.1 and never register, which `host add` used to find out only
// after its registration timeout.
func loopbackOnly(urls []string) bool {
	if len(urls) == 0 {
		return false
	}
	for _, u := range urls {
		if !isLoopbackHost(urlHost(u)) {
			return false
		}
	}
	return true
}

func urlHost(raw string) string {
	if p, err := url.Parse(raw); err == nil && p.Host != "" {
		return p.Hostname()
	}
	if h, _, err := net.SplitHostPort(raw); err == nil {
		return h
	}
	return raw
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// errLoopbackController is what `host add` says instead of installing
// agents that could not reach the controller.
func errLoopbackController(urls []string) error {
	return fmt.Errorf("the controller advertises only loopback (%s), which other hosts cannot reach; restart it with --listen 0.0.0.0:4222 --advertise <an address or name the hosts can reach>",
		strings.Join(urls, ", "))
}
