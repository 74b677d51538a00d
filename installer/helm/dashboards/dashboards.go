// Package dashboards holds the Grafana dashboards Foundry provisions for
// the stack's core components: small JSON files written for Foundry and
// embedded in the binary, so an air-gapped install needs no download
// (no grafana.com IDs). Each reads the data sources Foundry provisions,
// by their fixed UIDs (prometheus, loki).
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

//go:embed *.json
var files embed.FS

// Dashboard is one embedded dashboard.
type Dashboard struct {
	Name  string // the file name without .json: cluster, logs, ...
	Title string
	JSON  string
	// Sources are the data source types its panels query (prometheus,
	// loki), so a dashboard is provisioned only with its sources.
	Sources []string
}

// All returns the embedded dashboards sorted by name. It fails only on a
// dashboard that is not valid JSON, which the package's tests rule out.
func All() ([]Dashboard, error) {
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil, err
	}
	var out []Dashboard
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		var doc struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				Datasource struct {
					Type string `json:"type"`
				} `json:"datasource"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", e.Name(), err)
		}
		seen := map[string]bool{}
		d := Dashboard{Name: strings.TrimSuffix(e.Name(), path.Ext(e.Name())), Title: doc.Title, JSON: string(b)}
		for _, p := range doc.Panels {
			if t := p.Datasource.Type; t != "" && !seen[t] {
				seen[t] = true
				d.Sources = append(d.Sources, t)
			}
		}
		sort.Strings(d.Sources)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Embedded is All for callers that cannot fail: the files are compiled
// in and TestDashboardsAreProvisionable parses every one, so an error
// here is a broken build, not a runtime condition.
func Embedded() []Dashboard {
	all, err := All()
	if err != nil {
		panic(err)
	}
	return all
}
