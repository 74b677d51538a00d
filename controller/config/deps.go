package config

import (
	"sort"
	"strings"
)

// ResourceTrueNAS stands for storage.truenas in dependency requirements:
// some components can use TrueNAS instead of another component.
const ResourceTrueNAS = "storage.truenas"

// Requirement is met when any one of its names is configured.
type Requirement []string

// Dependencies maps a component to what it needs; every requirement must
// be met.
type Dependencies map[string][]Requirement

// DefaultDependencies is the stack's dependency table, from the seed's
// install order: OpenBAO first, then K3s, then what runs on K3s.
func DefaultDependencies() Dependencies {
	k3s := Requirement{"k3s"}
	return Dependencies{
		"k3s": {{"openbao"}},
		// The registry runs on hosts (installed by agents) until its
		// in-cluster flavour exists, so it needs no cluster yet.
		"zot":          {},
		"prometheus":   {k3s},
		"loki":         {k3s},
		"grafana":      {k3s, {"prometheus"}},
		"contour":      {k3s},
		"cert-manager": {k3s},
		"external-dns": {k3s},
		"minio":        {k3s},
		"velero":       {k3s, {"minio", ResourceTrueNAS}},
		"argocd":       {k3s},
	}
}

// Cycle returns one dependency cycle in the table, as a path that starts
// and ends with the same name ("a", "b", "a"), or nil when there is none.
// Every alternative of a requirement counts as an edge, so the table must
// be acyclic whichever alternative is chosen. The search is deterministic.
func (d Dependencies) Cycle() []string {
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var found []string
	var visit func(n string) bool
	visit = func(n string) bool {
		state[n] = onStack
		stack = append(stack, n)
		for _, next := range d.edges(n) {
			switch state[next] {
			case onStack:
				i := len(stack) - 1
				for stack[i] != next {
					i--
				}
				found = append(append([]string(nil), stack[i:]...), next)
				return true
			case unvisited:
				if visit(next) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return false
	}
	for _, n := range d.names() {
		if state[n] == unvisited && visit(n) {
			return found
		}
	}
	return nil
}

// edges lists what n depends on, sorted and without repeats.
func (d Dependencies) edges(n string) []string {
	set := map[string]bool{}
	for _, req := range d[n] {
		for _, alt := range req {
			set[alt] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d Dependencies) names() []string {
	out := make([]string, 0, len(d))
	for k := range d {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Unmet returns the requirements of component that the configured set
// does not meet.
func (d Dependencies) Unmet(component string, configured map[string]bool) []Requirement {
	var out []Requirement
	for _, req := range d[component] {
		met := false
		for _, alt := range req {
			met = met || configured[alt]
		}
		if !met {
			out = append(out, req)
		}
	}
	return out
}

// String renders a requirement for messages: "k3s" or "minio or storage.truenas".
func (r Requirement) String() string { return strings.Join(r, " or ") }
