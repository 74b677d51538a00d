package helm

import (
	"slices"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/helm/dashboards"
)

// Data source UIDs are fixed so the embedded dashboards can name them.
const (
	PrometheusDataSourceUID = "prometheus"
	LokiDataSourceUID       = "loki"
)

// GrafanaDashboardProvider is the provisioning provider (and the
// dashboards' folder, "Foundry") the chart mounts its dashboards under.
const GrafanaDashboardProvider = "foundry"

// GrafanaValues: the admin password (a reference, so it becomes the
// chart's Secret, never a plain value), the configured stores as
// provisioned data sources at their releases' in-cluster Services, and
// the embedded dashboards whose data sources are there.
func GrafanaValues(c config.Grafana, prometheus, loki bool) Values {
	v := Values{
		"adminUser":     "admin",
		"adminPassword": or(c.AdminPassword, secrets.Ref{Path: secrets.CoreNamespace + "/grafana", Key: "admin_password"}.String()),
	}
	var ds []any
	have := map[string]bool{"prometheus": prometheus, "loki": loki}
	if prometheus {
		ds = append(ds, Values{"name": "Prometheus", "uid": PrometheusDataSourceUID, "type": "prometheus", "access": "proxy", "url": prometheusURL, "isDefault": true, "editable": false})
	}
	if loki {
		ds = append(ds, Values{"name": "Loki", "uid": LokiDataSourceUID, "type": "loki", "access": "proxy", "url": lokiURL, "isDefault": !prometheus, "editable": false})
	}
	if len(ds) > 0 {
		v["datasources"] = Values{"datasources.yaml": Values{"apiVersion": 1, "datasources": ds}}
	}
	boards := Values{}
	for _, d := range dashboards.Embedded() {
		if !slices.ContainsFunc(d.Sources, func(s string) bool { return !have[s] }) {
			boards[d.Name] = Values{"json": d.JSON}
		}
	}
	if len(boards) > 0 {
		v["dashboardProviders"] = Values{"dashboardproviders.yaml": Values{"apiVersion": 1, "providers": []any{Values{
			"name": GrafanaDashboardProvider, "orgId": 1, "folder": "Foundry", "type": "file",
			"disableDeletion": true, "editable": false, "allowUiUpdates": false,
			"options": Values{"path": "/var/lib/grafana/dashboards/" + GrafanaDashboardProvider},
		}}}}
		v["dashboards"] = Values{GrafanaDashboardProvider: boards}
	}
	if len(c.Plugins) > 0 {
		v["plugins"] = stringsAny(c.Plugins)
	}
	return v
}
