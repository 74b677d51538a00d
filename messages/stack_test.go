package messages

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeStackReportRefusesWhatTheViewCannotShow(t *testing.T) {
	good := ClusterComponentStatus{Component: "grafana", Release: "grafana", Namespace: "monitoring", Status: "deployed", CheckedAt: 1}
	enc := func(cs ...ClusterComponentStatus) []byte {
		b, _ := json.Marshal(StackReport{Components: cs})
		return b
	}
	if _, err := DecodeStackReport(enc(good)); err != nil {
		t.Fatalf("good report refused: %v", err)
	}
	many := make([]ClusterComponentStatus, MaxStackReportComponents+1)
	for i := range many {
		many[i] = good
		many[i].Component = "c" + strings.Repeat("x", i%20) + string(rune('a'+i%26))
	}
	with := func(f func(*ClusterComponentStatus)) []byte {
		c := good
		f(&c)
		return enc(c)
	}
	cases := map[string][]byte{
		"empty":          {},
		"not json":       []byte("report"),
		"no components":  enc(),
		"too many":       enc(many...),
		"twice":          enc(good, good),
		"bad name":       with(func(c *ClusterComponentStatus) { c.Component = "../x" }),
		"no check time":  with(func(c *ClusterComponentStatus) { c.CheckedAt = 0 }),
		"control chars":  with(func(c *ClusterComponentStatus) { c.Status = "deployed\n<script>" }),
		"long text":      with(func(c *ClusterComponentStatus) { c.Namespace = strings.Repeat("n", 300) }),
		"ready > total":  with(func(c *ClusterComponentStatus) { c.Workloads, c.WorkloadsReady = 1, 2 }),
		"nameless node":  with(func(c *ClusterComponentStatus) { c.Nodes = []ClusterNodeStatus{{Ready: true}} }),
		"too many nodes": with(func(c *ClusterComponentStatus) { c.Nodes = make([]ClusterNodeStatus, MaxStackReportNodes+1) }),
		"oversized":      []byte(`{"components":[{"component":"grafana","status":"` + strings.Repeat("A", MaxStackReportBytes) + `"}]}`),
	}
	for name, b := range cases {
		if _, err := DecodeStackReport(b); err == nil {
			t.Errorf("%s: accepted", name)
		} else if e := AsError(err); e.Code != CodeBadRequest && e.Code != CodeTooLarge {
			t.Errorf("%s: code %s, want bad_request or too_large", name, e.Code)
		}
	}
}
