package config

import (
	"strings"
	"testing"
)

func TestDefaultDependenciesHaveNoCycle(t *testing.T) {
	if c := DefaultDependencies().Cycle(); c != nil {
		t.Fatalf("cycle in the shipped table: %v", c)
	}
}

func TestDefaultDependenciesNameOnlyKnownComponents(t *testing.T) {
	known := map[string]bool{ResourceTrueNAS: true}
	for _, c := range KnownComponents() {
		known[c] = true
	}
	for name, reqs := range DefaultDependencies() {
		if !known[name] {
			t.Errorf("table entry %q is not a component", name)
		}
		for _, r := range reqs {
			for _, alt := range r {
				if !known[alt] {
					t.Errorf("%s requires unknown %q", name, alt)
				}
			}
		}
	}
}

func TestCycleFindsInjectedCycles(t *testing.T) {
	cases := []struct {
		name string
		deps Dependencies
		want string
	}{
		{"self loop", Dependencies{"a": {{"a"}}}, "a -> a"},
		{"two", Dependencies{"a": {{"b"}}, "b": {{"a"}}}, "a -> b -> a"},
		{"three behind a tail", Dependencies{"t": {{"x"}}, "x": {{"y"}}, "y": {{"z"}}, "z": {{"x"}}}, "t"},
		{"through an alternative", Dependencies{"velero": {{"k3s"}, {"minio", "truenas"}}, "minio": {{"velero"}}}, "minio -> velero -> minio"},
		{"none", Dependencies{"a": {{"b"}}, "b": {{"c"}}, "c": nil}, ""},
		{"diamond is not a cycle", Dependencies{"a": {{"b"}, {"c"}}, "b": {{"d"}}, "c": {{"d"}}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.deps.Cycle()
			s := strings.Join(got, " -> ")
			switch {
			case c.want == "" && got != nil:
				t.Fatalf("found cycle %s in an acyclic table", s)
			case c.want == "t":
				if len(got) < 2 || got[0] != got[len(got)-1] || strings.Contains(s, "t ->") {
					t.Fatalf("cycle %s: want x, y, z without the tail t", s)
				}
			case c.want != "" && s != c.want:
				t.Fatalf("cycle %q, want %q", s, c.want)
			}
		})
	}
}

func TestUnmet(t *testing.T) {
	d := DefaultDependencies()
	conf := map[string]bool{"velero": true, "k3s": true}
	un := d.Unmet("velero", conf)
	if len(un) != 1 || un[0].String() != "minio or storage.truenas" {
		t.Fatalf("unmet %v", un)
	}
	conf[ResourceTrueNAS] = true
	if un := d.Unmet("velero", conf); len(un) != 0 {
		t.Fatalf("truenas should satisfy velero: %v", un)
	}
}
