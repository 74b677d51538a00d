package messages

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Stack report endpoints. The CLI reads the cluster components (Helm
// releases, the Kubernetes nodes) itself, with a kubeconfig the
// controller never holds; after a status run it reports what it saw so
// the web view can show the cluster beside the host services, as fresh
// as the last status run. Reporting is a write (admin only): a report
// is what every viewer will believe about the cluster. Listing is a read.
var (
	APIStackReport = MustAPISubject("stack", "report")
	APIStackList   = MustAPISubject("stack", "list")
)

// Bounds of a stack report. A stack has about a dozen cluster components
// and a cluster a handful of nodes; the bounds leave room and keep one
// report far below an API message.
const (
	MaxStackReportBytes      = 64 << 10
	MaxStackReportComponents = 32
	MaxStackReportNodes      = 64
	maxStackReportText       = 256
)

// StackReport is the cluster part of one status run.
type StackReport struct {
	Components []ClusterComponentStatus `json:"components"`
}

// ClusterComponentStatus is one cluster component as a status run saw it:
// a Helm release (Release set) or K3s's nodes (Nodes set).
type ClusterComponentStatus struct {
	Component string `json:"component"`
	// Cluster is the stack config's cluster name.
	Cluster      string `json:"cluster,omitempty"`
	Release      string `json:"release,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	Revision     int    `json:"revision,omitempty"`
	Chart        string `json:"chart,omitempty"`
	ChartVersion string `json:"chart_version,omitempty"`
	AppVersion   string `json:"app_version,omitempty"`
	// Desired is the version the stack config asks for.
	Desired string `json:"desired_version,omitempty"`
	// Status is Helm's word for the release ("deployed", "failed",
	// "not installed: ..."), or the API's for K3s.
	Status  string `json:"status"`
	Healthy bool   `json:"healthy"`
	// WorkloadsReady of Workloads are ready; NotReady names the others.
	Workloads      int                 `json:"workloads,omitempty"`
	WorkloadsReady int                 `json:"workloads_ready,omitempty"`
	NotReady       string              `json:"not_ready,omitempty"`
	Nodes          []ClusterNodeStatus `json:"nodes,omitempty"`
	// CheckedAt is when the CLI read it (unix ms, the CLI's clock).
	CheckedAt int64 `json:"checked_at"`
	// Operator and Reported are set by the controller when it stores
	// the report: who reported it and when it arrived (unix ms). What
	// the CLI sends in them is ignored.
	Operator string `json:"operator,omitempty"`
	Reported int64  `json:"reported,omitempty"`
}

// ClusterNodeStatus is one Kubernetes node as the API and Foundry saw it.
type ClusterNodeStatus struct {
	Name    string `json:"name"`
	Ready   bool   `json:"ready"`
	Roles   string `json:"roles,omitempty"`
	Version string `json:"version,omitempty"`
	// Problem says what is wrong ("not Ready", "host offline", ...).
	Problem string `json:"problem,omitempty"`
}

// StackReportResult says how many components the controller stored; an
// older report than the one it holds for a component is not stored.
type StackReportResult struct {
	Stored int `json:"stored"`
}

// StackListRequest asks for the stored cluster components.
type StackListRequest struct{}

// StackListResult is the newest report of each cluster component, sorted
// by component.
type StackListResult struct {
	Components []ClusterComponentStatus `json:"components"`
}

// DecodeStackReport parses a stack report and checks its bounds: every
// component named validly and once, every text short, a check time set.
func DecodeStackReport(b []byte) (StackReport, error) {
	r, err := decode[StackReport](b, MaxStackReportBytes, "stack report")
	if err != nil {
		return r, err
	}
	return r, ValidStackReport(r)
}

// ValidStackReport says why r cannot be stored, or nil.
func ValidStackReport(r StackReport) error {
	bad := func(f string, a ...any) error {
		return &Error{Code: CodeBadRequest, Message: "stack report: " + fmt.Sprintf(f, a...)}
	}
	if len(r.Components) == 0 || len(r.Components) > MaxStackReportComponents {
		return bad("has %d components; send 1 to %d", len(r.Components), MaxStackReportComponents)
	}
	seen := map[string]bool{}
	for _, c := range r.Components {
		if err := ValidComponent(c.Component); err != nil {
			return err
		}
		if seen[c.Component] {
			return bad("names %s twice", c.Component)
		}
		seen[c.Component] = true
		if c.CheckedAt <= 0 {
			return bad("%s has no check time", c.Component)
		}
		if c.Revision < 0 || c.Workloads < 0 || c.WorkloadsReady < 0 || c.WorkloadsReady > c.Workloads {
			return bad("%s has impossible counts", c.Component)
		}
		if len(c.Nodes) > MaxStackReportNodes {
			return bad("%s has %d nodes, more than %d", c.Component, len(c.Nodes), MaxStackReportNodes)
		}
		texts := []string{c.Cluster, c.Release, c.Namespace, c.Chart, c.ChartVersion, c.AppVersion, c.Desired, c.Status, c.NotReady}
		for _, n := range c.Nodes {
			if n.Name == "" {
				return bad("%s has a node without a name", c.Component)
			}
			texts = append(texts, n.Name, n.Roles, n.Version, n.Problem)
		}
		for _, s := range texts {
			if !plainText(s) {
				return bad("%s has a field longer than %d bytes or with control characters", c.Component, maxStackReportText)
			}
		}
	}
	return nil
}

// plainText is a short single line: what a table cell can show as is.
func plainText(s string) bool {
	if len(s) > maxStackReportText || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
