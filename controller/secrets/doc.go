// Package secrets resolves ${secret:path:key} references and talks to
// OpenBAO, so that Foundry's configs hold references and never values.
//
// A reference resolves inside a namespace (a service's namespace such as
// "myservice-stable", or "foundry" for Foundry's own core services). The
// value is looked up, in order, in an environment variable named after the
// namespaced path, in ~/.foundryvars, and in OpenBAO's KV v2 engine. A
// reference found nowhere is an error; an empty value is never success.
//
// The package also keeps Foundry's own OpenBAO token (OS keyring, else a
// 0600 file) and each host's SSH private key (OpenBAO, else 0600 files).
// Errors name references and paths, never values.
package secrets
