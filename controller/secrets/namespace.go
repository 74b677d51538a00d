package secrets

import (
	"fmt"
	"strings"
)

// CoreNamespace is where Foundry's own services keep their secrets (the
// stack config's references resolve here), matching the seed's
// "foundry-*" naming for core resources.
const CoreNamespace = "foundry"

// EnvPrefix starts the environment variable that overrides one secret.
const EnvPrefix = "FOUNDRY_SECRET_"

// ValidNamespace reports why ns cannot scope secrets ("" when it can). A
// namespace is one path segment, like "myservice-stable" or "foundry".
func ValidNamespace(ns string) string {
	if ns == "" {
		return "the namespace is empty"
	}
	if strings.Contains(ns, "/") {
		return fmt.Sprintf("namespace %q must be a single segment without '/'", ns)
	}
	if !validSegment(ns) {
		return fmt.Sprintf("namespace %q may only hold letters, digits, '.', '_' and '-'", ns)
	}
	return ""
}

// Qualify scopes r to namespace ns, so a service writes
// ${secret:database/prod:password} and gets
// myservice-stable/database/prod:password without naming its namespace.
//
// A path whose first segment already is the namespace is left as it is,
// so ${secret:foundry/truenas:api_key} in namespace "foundry" stays
// foundry/truenas:api_key (the seed's own example) rather than becoming
// foundry/foundry/truenas. The price is that a service cannot keep a
// top-level folder named after its own namespace; that is documented here
// rather than guessed at. An empty namespace leaves r unchanged (the CLI
// takes full paths).
func Qualify(ns string, r Ref) Ref {
	if ns == "" || r.Path == ns || strings.HasPrefix(r.Path, ns+"/") {
		return r
	}
	return Ref{Path: ns + "/" + r.Path, Key: r.Key}
}

// EnvName is the environment variable that overrides the namespaced
// reference r: FOUNDRY_SECRET_ followed by "path:key" with '/', '-' and ':'
// turned into '_', as the seed names it
// (myservice-stable/database/prod:password gives
// FOUNDRY_SECRET_myservice_stable_database_prod_password). '.' also
// becomes '_', because shells cannot export names containing dots; the
// seed's examples have none, so they are unaffected.
func EnvName(r Ref) string {
	return EnvPrefix + envReplacer().Replace(r.PathKey())
}

func envReplacer() *strings.Replacer {
	return strings.NewReplacer("/", "_", "-", "_", ":", "_", ".", "_")
}
