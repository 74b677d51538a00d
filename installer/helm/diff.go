package helm

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// DiffManifests compares two rendered manifests object by object
// (kind/namespace/name) and returns a unified-style line diff, "" when
// they are equal. Every value of a Secret's data and stringData is shown
// as <secret> on both sides, so a changed secret shows as changed keys,
// never as values.
func DiffManifests(current, next, namespace string) (string, error) {
	a, err := maskedObjects(current, namespace)
	if err != nil {
		return "", err
	}
	b, err := maskedObjects(next, namespace)
	if err != nil {
		return "", err
	}
	ids := map[string]bool{}
	for id := range a {
		ids[id] = true
	}
	for id := range b {
		ids[id] = true
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	var out strings.Builder
	for _, id := range sorted {
		if a[id] == b[id] {
			continue
		}
		switch {
		case a[id] == "":
			fmt.Fprintf(&out, "+++ %s (new)\n", id)
		case b[id] == "":
			fmt.Fprintf(&out, "--- %s (removed)\n", id)
		default:
			fmt.Fprintf(&out, "~~~ %s\n", id)
		}
		for _, l := range lineDiff(lines(a[id]), lines(b[id])) {
			out.WriteString(l)
			out.WriteByte('\n')
		}
	}
	return out.String(), nil
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// maskedObjects maps object IDs to a canonical YAML rendering (sorted
// keys, Secret values masked), so formatting differences do not show.
func maskedObjects(manifest, namespace string) (map[string]string, error) {
	objs, err := Objects(manifest, namespace)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(objs))
	for _, o := range objs {
		if o.Kind == "Secret" {
			for _, k := range []string{"data", "stringData"} {
				if d, ok := o.Body[k].(map[string]any); ok {
					for key := range d {
						d[key] = Masked
					}
				}
			}
		}
		b, err := yaml.Marshal(o.Body)
		if err != nil {
			return nil, err
		}
		out[o.ID()] = string(b)
	}
	return out, nil
}

// lineDiff is a longest-common-subsequence diff; objects are a few
// hundred lines at most, so the quadratic table is small. Unchanged lines
// are kept only as up to 2 lines of context around a change.
func lineDiff(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		mark byte
		text string
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, op{'+', b[j]})
			j++
		default:
			ops = append(ops, op{'-', a[i]})
			i++
		}
	}
	const context = 2
	var out []string
	for k, o := range ops {
		if o.mark == ' ' {
			near := false
			for d := -context; d <= context && !near; d++ {
				if k+d >= 0 && k+d < len(ops) && ops[k+d].mark != ' ' {
					near = true
				}
			}
			if !near {
				if len(out) > 0 && out[len(out)-1] != "  ..." {
					out = append(out, "  ...")
				}
				continue
			}
		}
		out = append(out, string(o.mark)+" "+o.text)
	}
	return out
}
