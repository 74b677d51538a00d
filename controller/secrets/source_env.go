package secrets

import (
	"context"
	"os"
)

// EnvSource reads overrides from environment variables named by EnvName,
// so any environment (CI, a container, another secret tool) can inject a
// secret without OpenBAO.
type EnvSource struct {
	// LookupEnv defaults to os.LookupEnv; tests pass a map's lookup.
	LookupEnv func(string) (string, bool)
}

// Name identifies the source in errors.
func (EnvSource) Name() string { return "environment" }

// Describe names the exact variable, so the user knows what to export.
func (EnvSource) Describe(r Ref) string { return "environment variable " + EnvName(r) }

// Lookup reports the variable's value; a set but empty variable is
// returned as found, and the resolver turns it into ErrEmptyValue.
func (e EnvSource) Lookup(_ context.Context, r Ref) (string, bool, error) {
	look := e.LookupEnv
	if look == nil {
		look = os.LookupEnv
	}
	v, ok := look(EnvName(r))
	return v, ok, nil
}
