package controller

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/foundry-fleet/foundry/controller/pki"
)

// LocalURLsFile, beside the admin credentials in the data directory,
// holds the URLs this machine's CLI reaches the running controller at, one
// per line, loopback first. The CLI's default --controller reads it, so
// that a controller on another port or advertising another address is
// found without flags.
const LocalURLsFile = "urls"

// localURLs are the URLs a CLI on this machine should dial: loopback (or
// the specific listen address) first, then the advertised URLs, which
// agents use and which the certificate covers too.
func localURLs(scheme, listenHost string, port int, advertised []string) []string {
	host := listenHost
	if wildcardHost(host) {
		host = "127.0.0.1"
	}
	return appendNew([]string{scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))}, advertised...)
}

// writeLocalURLs records localURLs in the data directory. It is written
// at every start and left behind at shutdown: the stale address still
// names where the admin's controller runs next, and a CLI that cannot
// reach it says so.
func writeLocalURLs(dataDir string, urls []string) error {
	return pki.WriteFile(filepath.Join(dataDir, LocalURLsFile), []byte(strings.Join(urls, "\n")+"\n"), 0o644)
}

// ReadLocalURLs returns the URLs a controller with this data directory
// last wrote, comma separated as client.Options.URL takes them, or ""
// when there is no such file.
func ReadLocalURLs(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, LocalURLsFile))
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(b)), ",")
}
