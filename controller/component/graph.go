package component

import (
	"fmt"
	"sort"
	"strings"
)

// Validate checks the catalog: unique names, dependencies that exist, and
// no cycle through Requires and After edges.
func Validate(cs []Component) error {
	byName := map[string]bool{}
	for _, c := range cs {
		if byName[c.Name] {
			return fmt.Errorf("component %q is defined twice", c.Name)
		}
		byName[c.Name] = true
	}
	for _, c := range cs {
		for _, d := range append(append([]string{}, c.Requires...), c.After...) {
			if !byName[d] {
				return fmt.Errorf("component %q depends on unknown component %q", c.Name, d)
			}
		}
	}
	if cyc := cycle(cs); cyc != nil {
		return fmt.Errorf("component dependencies have a cycle: %s", strings.Join(cyc, " -> "))
	}
	return nil
}

// cycle returns one cycle as a path that ends where it starts, or nil.
func cycle(cs []Component) []string {
	edges := map[string][]string{}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
		edges[c.Name] = append(append([]string{}, c.Requires...), c.After...)
		sort.Strings(edges[c.Name])
	}
	sort.Strings(names)
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack, found []string
	var visit func(n string) bool
	visit = func(n string) bool {
		state[n] = onStack
		stack = append(stack, n)
		for _, m := range edges[n] {
			switch state[m] {
			case onStack:
				i := len(stack) - 1
				for stack[i] != m {
					i--
				}
				found = append(append([]string{}, stack[i:]...), m)
				return true
			case unvisited:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return false
	}
	for _, n := range names {
		if state[n] == unvisited && visit(n) {
			return found
		}
	}
	return nil
}

// Order sorts the named components of the catalog so every component
// comes after what it requires and what it is ordered after (when that
// is also named). Ties keep catalog order, which is the seed's order.
func Order(cs []Component, names []string) ([]Component, error) {
	if err := Validate(cs); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		if _, err := Find(cs, n); err != nil {
			return nil, err
		}
		want[n] = true
	}
	var out []Component
	placed := map[string]bool{}
	for len(out) < len(want) {
		progress := false
		for _, c := range cs {
			if !want[c.Name] || placed[c.Name] {
				continue
			}
			ready := true
			for _, d := range append(append([]string{}, c.Requires...), c.After...) {
				if want[d] && !placed[d] {
					ready = false
				}
			}
			if ready {
				out = append(out, c)
				placed[c.Name] = true
				progress = true
			}
		}
		if !progress {
			return nil, fmt.Errorf("component dependencies have a cycle among %v", names)
		}
	}
	return out, nil
}

// Missing lists what c requires that is not among names.
func Missing(c Component, names []string) []string {
	var out []string
	for _, r := range c.Requires {
		found := false
		for _, n := range names {
			found = found || n == r
		}
		if !found {
			out = append(out, r)
		}
	}
	return out
}
