package client

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrTLS means the controller answered but its certificate does not fit
// what the CLI dialed or pins; "start the controller" would be wrong
// advice for a controller that is running.
var ErrTLS = errors.New("controller certificate not accepted")

// explainTLS turns a certificate verification failure into advice, or
// returns nil when err is something else.
func explainTLS(err error, o Options) error {
	var host x509.HostnameError
	if errors.As(err, &host) && host.Certificate != nil {
		covered := certNames(host.Certificate)
		alt := "tls://<one of them>"
		if len(covered) > 0 {
			alt = "tls://" + net.JoinHostPort(covered[0], portOf(o.URL, host.Host))
		}
		return fmt.Errorf("%w: the controller's certificate does not cover %s (it covers %s); use --controller %s, or restart the controller with --advertise %s so that its certificate is reissued for that name",
			ErrTLS, host.Host, strings.Join(covered, ", "), alt, host.Host)
	}
	var authority x509.UnknownAuthorityError
	if errors.As(err, &authority) {
		return fmt.Errorf("%w: the controller at %s presents a certificate not signed by the CA in %s; pass --ca with that controller's ca.pem (in its data directory)",
			ErrTLS, o.URL, o.CAFile)
	}
	return nil
}

func certNames(c *x509.Certificate) []string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// portOf finds the port of the URL whose host is host, for the advice's
// ready-to-use URL.
func portOf(urls, host string) string {
	for _, u := range strings.Split(urls, ",") {
		_, hp, _ := strings.Cut(strings.TrimSpace(u), "://")
		if h, p, err := net.SplitHostPort(hp); err == nil && h == host {
			return p
		}
	}
	return "4222"
}
