package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// TestCopiedAgentKeyIsReported runs two real agent processes with one
// host's key, as a thief's copy beside the real agent would: both
// connect and heartbeat, and the registry used to ignore one of them
// without a word. The controller must record one host_key_shared event
// naming both instances and the rekey, and keep the host online.
func TestCopiedAgentKeyIsReported(t *testing.T) {
	c := ct.StartController(t, func(o *controller.Options) { o.HeartbeatBase = time.Second })
	cl := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, cl, c, "cloned", t.TempDir())
	cfg.Heartbeat = time.Second
	ct.StartAgentProcess(t, cfg, t.TempDir())
	ct.WaitOnline(t, cl, 1)
	ct.StartAgentProcess(t, cfg, t.TempDir()) // the copy

	var ev messages.Event
	ct.CheckFor(t, 30*time.Second, 250*time.Millisecond, func() error {
		evs, err := events(cl, "cloned", messages.EventHostKeyShared)
		if err == nil && len(evs) != 1 {
			err = fmt.Errorf("%d host_key_shared events, want 1", len(evs))
		}
		if err == nil {
			ev = evs[0]
		}
		return err
	})
	if ev.Time <= 0 || ev.Severity != messages.SeverityWarning || ev.Fields["ignored_instance"] == "" || ev.Fields["current_instance"] == "" ||
		ev.Fields["ignored_instance"] == ev.Fields["current_instance"] || !strings.Contains(ev.Message, "foundry host rekey cloned") {
		t.Fatalf("event %+v", ev)
	}
	if err := hostState(cl, "cloned", messages.StateOnline); err != nil {
		t.Fatal(err)
	}
	// Reported once, not once per ignored heartbeat: three more
	// heartbeats later there is still one event.
	ct.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil || len(hl.Hosts) != 1 {
			return fmt.Errorf("host list: %+v %v", hl, err)
		}
		if seen := hl.Hosts[0].LastSeen; seen < ev.Time+3_000 {
			return fmt.Errorf("last heartbeat %d ms after the event, want 3,000", seen-ev.Time)
		}
		return nil
	})
	if evs, err := events(cl, "cloned", messages.EventHostKeyShared); err != nil || len(evs) != 1 {
		t.Fatalf("%d host_key_shared events (%v), want still 1", len(evs), err)
	}
}

func events(cl *client.Client, host, typ string) ([]messages.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []messages.Event
	err := cl.Events(ctx, client.EventQuery{Host: host, Type: typ, Since: time.Hour}, func(e messages.Event) error {
		out = append(out, e)
		return nil
	})
	return out, err
}
