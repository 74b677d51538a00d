package main

import "path/filepath"

// layout names the files under data-dir. It follows k3s's tree where
// Foundry looks (server/node-token, server/tls) and is otherwise private.
type layout struct{ dir string }

func (l layout) server(p ...string) string {
	return filepath.Join(append([]string{l.dir, "server"}, p...)...)
}
func (l layout) tls(p ...string) string { return l.server(append([]string{"tls"}, p...)...) }
func (l layout) agent(p ...string) string {
	return filepath.Join(append([]string{l.dir, "agent"}, p...)...)
}
func (l layout) logs(name string) string { return filepath.Join(l.dir, "logs", name+".log") }
func (l layout) nodeToken() string       { return l.server("node-token") }
func (l layout) tokenFile() string       { return l.server("token") }
func (l layout) etcdDir() string         { return l.server("db", "etcd") }

// caFiles is the CA material a joining server needs, by file name under
// server/tls. It is also the key set of the bootstrap Secret.
func caFiles() []string {
	return []string{
		"server-ca.crt", "server-ca.key",
		"client-ca.crt", "client-ca.key",
		"etcd-ca.crt", "etcd-ca.key",
		"service.key",
	}
}
