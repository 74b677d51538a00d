package controller_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
)

// TestStartLogsTheNATSBannerAtDebug: a controller start logged some 38
// lines of nats-server banner at info before "controller ready". They
// belong at debug; the info log of a start is the controller's own.
func TestStartLogsTheNATSBannerAtDebug(t *testing.T) {
	var logs ct.LogBuffer
	ct.StartController(t, func(o *controller.Options) { o.Logger = logs.Logger() })
	banner, ready := 0, false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Level     string `json:"level"`
			Msg       string `json:"msg"`
			Component string `json:"component"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec.Msg == "controller ready" {
			ready = true
			break
		}
		if rec.Component != "nats" {
			continue
		}
		if rec.Level == "INFO" {
			t.Errorf("NATS notice at info before the controller is ready: %q", rec.Msg)
		}
		if strings.Contains(rec.Msg, "Starting nats-server") && rec.Level == "DEBUG" {
			banner++
		}
	}
	if !ready || banner != 1 {
		t.Fatalf("ready logged: %v; banner start lines at debug: %d\n%s", ready, banner, logs.String())
	}
}
