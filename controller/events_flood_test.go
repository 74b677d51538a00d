package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// One stolen agent credential floods the events stream: an event over
// the stream's message size is refused, and a flood of the largest allowed events keeps the
// newest of that host's own and never evicts another host's history. The
// stream is shrunk to 4 MiB so the flood overruns it in a test.
func TestEventFloodFromOneHostLeavesOthersHistory(t *testing.T) {
	c := ct.StartController(t, func(o *controller.Options) { o.EventsMaxBytes = 4 << 20 })
	cl := ct.Client(t, c)
	ct.RunAgent(t, ct.EnrollConfig(t, cl, c, "bao-1", t.TempDir()))
	ct.WaitOnline(t, cl, 1)
	countOf := func(host string) map[string]int {
		n := map[string]int{}
		err := cl.Events(context.Background(), client.EventQuery{Host: host, Since: time.Hour}, func(e messages.Event) error {
			n[e.Type]++
			if len(e.Message) > messages.MaxEventBytes {
				n["oversized"]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ct.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if n := countOf("bao-1"); n[messages.EventAgentStarted] == 0 || n[messages.EventHostEnrolled] == 0 {
			return fmt.Errorf("bao-1's history not there yet: %v", n)
		}
		return nil
	})

	nc := stolen(t, c, cl)
	subj, _ := messages.EventSubject("web-1", messages.EventCmdRefused)
	event := func(size int) []byte {
		b, _ := json.Marshal(messages.Event{V: messages.Version, Time: time.Now().UnixMilli(), Type: messages.EventCmdRefused,
			Severity: messages.SeverityWarning, Message: strings.Repeat("x", size)})
		return b
	}
	if err := nc.Publish(subj, event(128<<10)); err != nil {
		t.Fatal(err)
	}
	const flood = 700 // of 8 KiB: 5.6 MiB into a 4 MiB stream
	for range flood {
		if err := nc.Publish(subj, event(8<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The flood is stored (or dropped) asynchronously: wait until the
	// stream has seen the last of it, i.e. web-1's count stops growing.
	var last map[string]int
	ct.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		n := countOf("web-1")
		if last != nil && n[messages.EventCmdRefused] == last[messages.EventCmdRefused] && n[messages.EventCmdRefused] > 0 {
			return nil
		}
		last = n
		return fmt.Errorf("web-1's events still arriving: %v", n)
	})
	if last["oversized"] != 0 {
		t.Errorf("an event of 128 KiB was stored")
	}
	if got := last[messages.EventCmdRefused]; got > 256 {
		t.Errorf("web-1 holds %d cmd_refused events, want at most the per-subject limit 256", got)
	}
	if n := countOf("bao-1"); n[messages.EventAgentStarted] == 0 || n[messages.EventHostEnrolled] == 0 {
		t.Fatalf("bao-1's history was evicted by web-1's flood: %v", n)
	}
}

// A stolen credential publishing to forbidden subjects in a loop does not
// flood the controller's log: a few lines per connection and window, the
// rest counted. The attempt still reaches the audit trail.
func TestPermissionViolationFloodIsNotLoggedLineByLine(t *testing.T) {
	logs := &ct.LogBuffer{}
	c := ct.StartController(t, func(o *controller.Options) { o.Logger = logs.Logger() })
	cl := ct.Client(t, c)
	nc := stolen(t, c, cl)
	other, _ := messages.CommandSubject("bao-1")
	const attempts = 2000
	for range attempts {
		if err := nc.Publish(other, []byte("x")); err != nil {
			break // the server may close a connection that keeps trying
		}
	}
	_ = nc.Flush()
	waitAudit(t, cl, "web-1's violation", func(a messages.AuditRecord) bool {
		return a.Source == messages.AuditSourceServer && a.Host == "web-1"
	})
	// The server logs violations as it reads the publisher's connection:
	// wait until the count stops growing.
	var n, prev int
	ct.CheckFor(t, 10*time.Second, 200*time.Millisecond, func() error {
		n = strings.Count(logs.String(), "Publish Violation")
		if n == prev && n > 0 {
			return nil
		}
		prev = n
		return fmt.Errorf("violation lines still growing: %d", n)
	})
	if n > 20 {
		t.Fatalf("%d violation lines logged for %d attempts from one connection; want a handful", n, attempts)
	}
}

// waitReaders waits until at least n stream reads (follows) are waiting
// on the controller for news.
func waitReaders(t *testing.T, c *controller.Controller, n int) {
	t.Helper()
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := c.StreamReadsWaiting(); got < int64(n) {
			return fmt.Errorf("%d stream reads waiting, want %d", got, n)
		}
		return nil
	})
}

// newConnID returns the id of the one client connection opened by open.
func newConnID(t *testing.T, c *controller.Controller, open func()) uint64 {
	t.Helper()
	ids := func() map[uint64]bool {
		cz, err := c.Server().Connz(&server.ConnzOptions{Limit: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		m := map[uint64]bool{}
		for _, ci := range cz.Conns {
			m[ci.Cid] = true
		}
		return m
	}
	before := ids()
	open()
	var cid uint64
	for id := range ids() {
		if !before[id] {
			cid = id
		}
	}
	if cid == 0 {
		t.Fatal("no new connection")
	}
	return cid
}

// `events tail` and `events list` never hang: when the server drops the
// reader (as it does a slow consumer) they fail at once with an error
// that says so, and an interrupt ends a tail at once.
func TestEventsReadEndsWhenConnectionIsDroppedOrInterrupted(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ct.StartAgents(t, c, admin, "web", 1)
	ct.WaitOnline(t, admin, 1)

	var reader *client.Client
	cid := newConnID(t, c, func() { reader = ct.Client(t, c) })
	errc := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		errc <- reader.Events(ctx, client.EventQuery{Since: time.Hour, Follow: true}, func(messages.Event) error { return nil })
	}()
	waitReaders(t, c, 1)
	if err := c.Server().DisconnectClientByID(cid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "reading events stopped") {
			t.Fatalf("tail after a dropped connection: %v, want an error saying reading stopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("events tail still running 5s after the server dropped its connection")
	}
	if err := reader.Events(context.Background(), client.EventQuery{Since: time.Hour}, func(messages.Event) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), "reading events stopped") {
		t.Fatalf("list on a dropped connection: %v", err)
	}

	// An interrupt (the CLI's context on SIGINT or SIGTERM) ends a tail.
	// The dropped reader's last read waits on the controller until its
	// wait ends; let it, so the count below is the new tail's.
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := c.StreamReadsWaiting(); n != 0 {
			return fmt.Errorf("%d stream reads still waiting", n)
		}
		return nil
	})
	tail := ct.Client(t, c)
	ictx, interrupt := context.WithCancel(context.Background())
	go func() {
		errc <- tail.Events(ictx, client.EventQuery{Follow: true}, func(messages.Event) error { return nil })
	}()
	waitReaders(t, c, 1)
	interrupt()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("interrupted tail: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("events tail still running 2s after an interrupt")
	}
}
