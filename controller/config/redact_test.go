package config

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRedactedKeepsReferencesAndHidesInlineSecrets(t *testing.T) {
	f, err := Parse("s.yaml", []byte(inlineSecretConfig))
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Config.RedactedYAML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, leak := range []string{"hunter2", "pa55"} {
		if strings.Contains(s, leak) {
			t.Fatalf("output leaks %q:\n%s", leak, s)
		}
	}
	for _, want := range []string{
		"admin_password: <redacted>",
		"api_url: https://root:<redacted>@truenas.example.com",
		"api_key: ${secret:foundry/truenas:api_key}",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestRedactedOfCleanConfigIsAValidConfigWithDefaults(t *testing.T) {
	f, err := Parse("s.yaml", []byte(seedExample))
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Config.RedactedYAML()
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse("shown.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if ps := g.Validate(); len(ps.Errors()) != 0 || len(ps) != len(f.Validate()) {
		t.Fatalf("shown config has problems the original lacks: %s\n%s", ps, out)
	}
	if !strings.Contains(string(out), "admin_password: ${secret:foundry/grafana:admin_password}") {
		t.Fatalf("reference not shown as written:\n%s", out)
	}
	if g.Config.Components.OpenBAO.Storage != "raft" || g.Config.Foundry.SSHKeys != "openbao" ||
		g.Config.Foundry.OpenBAO.Address != "https://openbao.example.com:8200" {
		t.Fatalf("defaults not shown: %+v", g.Config.Foundry)
	}
}

func TestRedactedJSON(t *testing.T) {
	f, err := Parse("s.yaml", []byte(inlineSecretConfig))
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Config.RedactedJSON()
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	g := v["components"].(map[string]any)["grafana"].(map[string]any)
	if g["admin_password"] != Redacted {
		t.Fatalf("grafana: %v", g)
	}
}

func TestEffectiveDoesNotModifyTheOriginal(t *testing.T) {
	f, err := Parse("s.yaml", []byte(minimal+"components:\n  zot: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := f.Config.Effective()
	if e.Components.Zot.Flavor != FlavorZot || f.Config.Components.Zot.Flavor != "" {
		t.Fatalf("effective %q original %q", e.Components.Zot.Flavor, f.Config.Components.Zot.Flavor)
	}
	if f.Config.Foundry != nil {
		t.Fatal("original gained a foundry section")
	}
	if e.Foundry.SSHKeys != "file" {
		t.Fatalf("without OpenBAO, ssh keys default to file: %q", e.Foundry.SSHKeys)
	}
}

func TestInlineSecretHeuristic(t *testing.T) {
	cases := []struct {
		key, value string
		want       bool
	}{
		{"password", "x", true},
		{"admin_password", "x", true},
		{"api_key", "x", true},
		{"client-secret", "x", true},
		{"token", "x", true},
		{"api_key", "${secret:foundry/truenas:api_key}", false},
		{"password", "", false},
		{"ssh_keys", "openbao", false},
		{"hostname", "node1", false},
		{"url", "https://u:p@host", true},
		{"url", "https://u@host", false},
		{"dsn", "postgres://u:${secret:db:pw}@h", false},
	}
	for _, c := range cases {
		if got := inlineSecret(c.key, c.value); got != c.want {
			t.Errorf("inlineSecret(%q, %q) = %v", c.key, c.value, got)
		}
	}
}
