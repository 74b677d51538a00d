package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// publishEvents stores n events of host through the controller's own
// connection and waits until the stream holds them.
func publishEvents(t *testing.T, c *controller.Controller, host string, n int) {
	t.Helper()
	subj, _ := messages.EventSubject(host, messages.EventAgentStarted)
	for i := range n {
		b, _ := json.Marshal(messages.Event{V: messages.Version, Time: time.Now().UnixMilli(), Type: messages.EventAgentStarted, Message: fmt.Sprint(i)})
		if _, err := c.JetStream().Publish(context.Background(), subj, b); err != nil {
			t.Fatal(err)
		}
	}
}

func hostFilter(host string) string {
	f, _ := messages.EventFilter(host, "")
	return f
}

// A read asks for at most MaxStreamReadRecords records and waits at most
// MaxStreamReadWait; one asking for more is refused, and one asking for
// nothing in particular gets the most, then the rest.
func TestStreamReadIsBoundedInRecordsAndWait(t *testing.T) {
	c := ct.StartController(t)
	ctx := context.Background()
	for _, bad := range []messages.StreamReadRequest{
		{Stream: messages.StreamEvents, Filter: hostFilter("web-1"), Max: messages.MaxStreamReadRecords + 1},
		{Stream: messages.StreamEvents, Filter: hostFilter("web-1"), Max: -1},
		{Stream: messages.StreamEvents, Filter: hostFilter("web-1"), WaitMs: messages.MaxStreamReadWait.Milliseconds() + 1},
		{Stream: messages.StreamEvents, Filter: hostFilter("web-1"), WaitMs: -1},
		{Stream: messages.StreamEvents, Filter: messages.EventPrefix + ".>"},
		{Stream: "OBJ_" + messages.ArtifactBucket, Filter: "$O.>"},
	} {
		_, err := c.StreamRead(ctx, bad)
		if e := messages.AsError(err); e == nil || e.Code != messages.CodeBadRequest {
			t.Errorf("%+v: got %v, want a bad request", bad, err)
		}
	}

	// A subject keeps its last 256 events: spread 600 over three hosts.
	for _, h := range []string{"web-1", "web-2", "web-3"} {
		publishEvents(t, c, h, 200)
	}
	publishEvents(t, c, "db-1", 3)
	all, _ := messages.EventFilter("", "")
	req := messages.StreamReadRequest{Stream: messages.StreamEvents, Filter: all, SinceMs: 1}
	res, err := c.StreamRead(ctx, req)
	if err != nil || len(res.Records) != messages.MaxStreamReadRecords || res.End {
		t.Fatalf("first read: %d records, end %v, %v; want %d and more to come", len(res.Records), res.End, err, messages.MaxStreamReadRecords)
	}
	req.After, req.SinceMs = res.Next, 0
	res, err = c.StreamRead(ctx, req)
	if err != nil || len(res.Records) != 103 || !res.End {
		t.Fatalf("second read: %d records, end %v, %v; want the last 103 and the end", len(res.Records), res.End, err)
	}
	// The controller filters: one host's read gets that host's only.
	one, err := c.StreamRead(ctx, messages.StreamReadRequest{Stream: messages.StreamEvents, Filter: hostFilter("db-1"), SinceMs: 1})
	if err != nil || len(one.Records) != 3 || !one.End {
		t.Fatalf("db-1's events: %+v %v", one, err)
	}
	for _, r := range one.Records {
		if want, _ := messages.EventSubject("db-1", messages.EventAgentStarted); r.Subject != want {
			t.Fatalf("a record of another host: %s", r.Subject)
		}
	}

	// Nothing new: the read waits what it asked for, then answers empty.
	req.After, req.WaitMs = res.Next, 300
	start := time.Now()
	res, err = c.StreamRead(ctx, req)
	if d := time.Since(start); err != nil || len(res.Records) != 0 || d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("a wait of 300ms with no news: %d records after %s, %v", len(res.Records), d, err)
	}
	// News ends a wait at once.
	req.WaitMs = messages.MaxStreamReadWait.Milliseconds()
	got := make(chan messages.StreamReadResult, 1)
	go func() {
		res, _ := c.StreamRead(ctx, req)
		got <- res
	}()
	ct.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if c.StreamReadsWaiting() != 1 {
			return fmt.Errorf("the read is not waiting yet")
		}
		return nil
	})
	start = time.Now()
	publishEvents(t, c, "web-1", 1)
	select {
	case res := <-got:
		if len(res.Records) != 1 {
			t.Fatalf("woken read: %+v", res)
		}
		if d := time.Since(start); d > messages.MaxStreamReadWait/2 {
			t.Fatalf("the news took %s to end the wait", d)
		}
	case <-time.After(messages.MaxStreamReadWait + 5*time.Second):
		t.Fatal("the waiting read did not answer")
	}
}

// One operator keeps at most 16 reads waiting on the controller; another
// is refused at once, and other operators are not affected.
func TestWaitingStreamReadsAreBoundedPerOperator(t *testing.T) {
	c := ct.StartController(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := controller.WithOperator(ctx, controller.Operator{Name: "alice", Role: controller.RoleReadOnly, PublicKey: "UALICE"})
	bob := controller.WithOperator(ctx, controller.Operator{Name: "bob", Role: controller.RoleReadOnly, PublicKey: "UBOB"})
	req := messages.StreamReadRequest{Stream: messages.StreamEvents, Filter: hostFilter("web-1"), WaitMs: messages.MaxStreamReadWait.Milliseconds()}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 16 {
		wg.Go(func() {
			if _, err := c.StreamRead(alice, req); err != nil {
				errs <- err
			}
		})
	}
	ct.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := c.StreamReadsWaiting(); n != 16 {
			return fmt.Errorf("%d reads waiting, want 16", n)
		}
		return nil
	})
	start := time.Now()
	_, err := c.StreamRead(alice, req)
	if e := messages.AsError(err); e == nil || e.Code != messages.CodeUnavailable || time.Since(start) > 2*time.Second {
		t.Fatalf("a 17th waiting read: %v after %s", err, time.Since(start))
	}
	wg.Go(func() {
		if _, err := c.StreamRead(bob, req); err != nil {
			errs <- err
		}
	})
	ct.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := c.StreamReadsWaiting(); n != 17 {
			return fmt.Errorf("%d reads waiting, want alice's 16 and bob's", n)
		}
		return nil
	})
	publishEvents(t, c, "web-1", 1)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a read within the bound: %v", err)
	}
	if _, err := c.StreamRead(alice, messages.StreamReadRequest{Stream: messages.StreamEvents, Filter: hostFilter("web-1"), WaitMs: 10}); err != nil {
		t.Fatalf("a read after the waits ended: %v", err)
	}
}

// One answer carries at most MaxStreamReadBytes of records (the reader
// asks again for the rest), so it always fits in one API message.
func TestStreamReadIsBoundedInBytes(t *testing.T) {
	c := ct.StartController(t)
	ctx := context.Background()
	subj, _ := messages.EventSubject("web-1", messages.EventAgentStarted)
	const n, big = 100, 15000
	for i := range n {
		b, _ := json.Marshal(messages.Event{V: messages.Version, Time: time.Now().UnixMilli(), Type: messages.EventAgentStarted,
			Message: fmt.Sprintf("%d %s", i, strings.Repeat("x", big))})
		if _, err := c.JetStream().Publish(ctx, subj, b); err != nil {
			t.Fatal(err)
		}
	}
	req := messages.StreamReadRequest{Stream: messages.StreamEvents, Filter: hostFilter("web-1"), SinceMs: 1}
	got, answers := 0, 0
	for {
		res, err := c.StreamRead(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		answers++
		size := 0
		for _, r := range res.Records {
			size += len(r.Data) + len(r.Subject)
		}
		if size > messages.MaxStreamReadBytes {
			t.Fatalf("an answer of %d bytes of records, over the %d bound", size, messages.MaxStreamReadBytes)
		}
		got += len(res.Records)
		if res.End {
			break
		}
		req.After, req.SinceMs = res.Next, 0
	}
	if got != n || answers < n*big/messages.MaxStreamReadBytes {
		t.Fatalf("%d records in %d answers, want all %d in at least %d", got, answers, n, n*big/messages.MaxStreamReadBytes)
	}
}
