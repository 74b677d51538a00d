package webtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/prometheus/common/expfmt"
)

// TestMetricsOnTheWebListener: a real controller with real agent
// processes serves its Prometheus metrics at /metrics on the web view's
// listener, behind the same login (no browser needed: plain HTTP with the
// session cookie the login link sets).
func TestMetricsOnTheWebListener(t *testing.T) {
	c, ts := startView(t)
	admin := ct.Client(t, c)
	dir := t.TempDir()
	for i := range 2 {
		ct.StartAgentProcess(t, ct.EnrollConfig(t, admin, c, fmt.Sprintf("metrics-%d", i+1), dir), dir)
	}
	ct.WaitOnline(t, admin, 2)

	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("/metrics without a session: %d, want a refusal", resp.StatusCode)
	}

	link, err := admin.WebLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	if resp, err = hc.Get(link.URL); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	deadline := time.Now().Add(30 * time.Second)
	for {
		online, err := scrapeOnline(hc, ts.URL+"/metrics")
		if err == nil && online == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed 2 online hosts: %v (online %v)", err, online)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scrapeOnline parses the exposition and returns the online hosts gauge.
func scrapeOnline(hc *http.Client, url string) (float64, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return 0, fmt.Errorf("parse: %w", err)
	}
	mf, ok := mfs["foundry_hosts"]
	if !ok {
		return 0, fmt.Errorf("no foundry_hosts family")
	}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "state" && l.GetValue() == "online" {
				return m.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("no online series")
}
