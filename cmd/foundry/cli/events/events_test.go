package events

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
)

func TestListFiltersServerSideAndTailFollows(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	agents := ct.StartAgents(t, c, cl, "app", 2)
	ct.WaitOnline(t, cl, 2)

	ios, _, out, _ := cmdutil.Test()
	o := &Options{IO: ios, Connect: ct.ConnectFunc(t, c), Since: time.Hour, Host: "app-2"}
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if f := strings.Split(line, "\t"); len(f) != 5 || f[1] != "app-2" {
			t.Fatalf("unfiltered or malformed line %q", line)
		}
	}
	if !strings.Contains(out.String(), "host_enrolled") || !strings.Contains(out.String(), "host_online") {
		t.Fatalf("history lacks enrolment or online events:\n%s", out.String())
	}

	// tail follows: once history is flowing, a clean stop of app-1 shows
	// up as it happens.
	ios, _, _, _ = cmdutil.Test()
	buf := &lockedBuffer{}
	ios.Out = buf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &Options{IO: ios, Connect: ct.ConnectFunc(t, c), Follow: true, Since: time.Hour, Host: "app-1", JSON: true})
	}()
	waitFor := func(want string) {
		ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if !strings.Contains(buf.String(), want) {
				return errors.New("no " + want + " yet in: " + buf.String())
			}
			return nil
		})
	}
	waitFor(`"type":"host_online"`)
	if err := agents[0].Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(`"type":"host_offline"`)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer lets the test read output while the command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--since -5m":     "--since must be positive",
		"--host A.B":      "invalid host id",
		"--type Bad-Type": "invalid event type",
	} {
		ios, _, _, _ := cmdutil.Test()
		cmd := NewCmdList(&cmdutil.Factory{IO: ios}, func(context.Context, *Options) error { return nil })
		cmd.SetArgs(strings.Fields(args))
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", args, err, want)
		}
	}
}
