package dashboards

import (
	"encoding/json"
	"testing"
)

// TestDashboardsAreProvisionable: every embedded dashboard is JSON with
// a foundry- uid and a title, and queries only the data sources Foundry
// provisions, by their fixed UIDs.
func TestDashboardsAreProvisionable(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 4 {
		t.Fatalf("%d dashboards, want the core components' (at least 4)", len(all))
	}
	for _, d := range all {
		var doc map[string]any
		if err := json.Unmarshal([]byte(d.JSON), &doc); err != nil {
			t.Errorf("%s: %v", d.Name, err)
			continue
		}
		if doc["uid"] != "foundry-"+d.Name || d.Title == "" {
			t.Errorf("%s: uid %v title %q", d.Name, doc["uid"], d.Title)
		}
		if len(d.Sources) == 0 {
			t.Errorf("%s: no data source", d.Name)
		}
		for _, p := range doc["panels"].([]any) {
			ds := p.(map[string]any)["datasource"].(map[string]any)
			if ds["uid"] != ds["type"] || (ds["type"] != "prometheus" && ds["type"] != "loki") {
				t.Errorf("%s: panel data source %v, want {type: prometheus|loki, uid: the same}", d.Name, ds)
			}
		}
	}
}
