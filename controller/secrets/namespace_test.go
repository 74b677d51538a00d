package secrets

import "testing"

func TestQualifyScopesToNamespace(t *testing.T) {
	cases := []struct {
		ns   string
		in   Ref
		want Ref
	}{
		{"myservice-stable", Ref{"database/prod", "password"}, Ref{"myservice-stable/database/prod", "password"}},
		{"myservice-toy", Ref{"database/prod", "password"}, Ref{"myservice-toy/database/prod", "password"}},
		// Already qualified: not doubled (the seed's foundry/truenas example).
		{"foundry", Ref{"foundry/truenas", "api_key"}, Ref{"foundry/truenas", "api_key"}},
		{"foundry", Ref{"foundry", "k"}, Ref{"foundry", "k"}},
		// A prefix that is not a whole segment is not the namespace.
		{"foundry", Ref{"foundryx/a", "k"}, Ref{"foundry/foundryx/a", "k"}},
		// No namespace: full paths as given (the CLI).
		{"", Ref{"external/github", "api_token"}, Ref{"external/github", "api_token"}},
	}
	for _, c := range cases {
		if got := Qualify(c.ns, c.in); got != c.want {
			t.Errorf("Qualify(%q, %v) = %v, want %v", c.ns, c.in, got, c.want)
		}
	}
}

func TestEnvNameMatchesTheSeed(t *testing.T) {
	cases := map[Ref]string{
		{"myservice-stable/database/prod", "password"}: "FOUNDRY_SECRET_myservice_stable_database_prod_password",
		{"foundry/truenas", "api_key"}:                 "FOUNDRY_SECRET_foundry_truenas_api_key",
		{"certs/wildcard", "tls.crt"}:                  "FOUNDRY_SECRET_certs_wildcard_tls_crt",
	}
	for r, want := range cases {
		if got := EnvName(r); got != want {
			t.Errorf("EnvName(%v) = %q, want %q", r, got, want)
		}
	}
}

func TestValidNamespace(t *testing.T) {
	for _, ok := range []string{"foundry", "myservice-stable", "a_b.c"} {
		if r := ValidNamespace(ok); r != "" {
			t.Errorf("ValidNamespace(%q) = %q", ok, r)
		}
	}
	for _, bad := range []string{"", "a/b", "a b", ".."} {
		if ValidNamespace(bad) == "" {
			t.Errorf("ValidNamespace(%q) accepted", bad)
		}
	}
}
