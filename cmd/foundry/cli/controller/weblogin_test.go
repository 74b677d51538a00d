package controller

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
)

func TestRunHTTPFlagIsOffByDefault(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	var got *RunOptions
	cmd := NewCmdRun(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *RunOptions) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil || got.HTTP != "" {
		t.Fatalf("--http default %q (%v), want off", got.HTTP, err)
	}
	cmd.SetArgs([]string{"--http", "127.0.0.1:8080"})
	if err := cmd.Execute(); err != nil || got.HTTP != "127.0.0.1:8080" {
		t.Fatalf("--http %q (%v)", got.HTTP, err)
	}
}

func TestWebLoginPrintsALinkThatLogsInOnce(t *testing.T) {
	var logs bytes.Buffer
	var opts controller.Options
	view, err := prepareWeb("127.0.0.1:0", t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)), &opts)
	if err != nil {
		t.Fatal(err)
	}
	c := ct.StartController(t, func(o *controller.Options) { o.WebLogin = opts.WebLogin })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	view.serve(ctx, c)
	if strings.Contains(logs.String(), "beyond loopback") {
		t.Errorf("a loopback listener was warned about: %s", logs.String())
	}

	ios, _, out, _ := cmdutil.Test()
	if err := webLoginRun(ctx, &WebLoginOptions{IO: ios, Connect: ct.ConnectFunc(t, c)}); err != nil {
		t.Fatal(err)
	}
	link, _, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(link, "http://127.0.0.1:") || !strings.Contains(link, "/login?token=") {
		t.Fatalf("printed %q, want a login link", out.String())
	}
	if strings.Contains(logs.String(), link[strings.Index(link, "token=")+6:]) {
		t.Fatal("the login token was logged")
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		resp, err := noFollow.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("use %d of the link answered %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

func TestWebViewBeyondLoopbackIsWarnedAbout(t *testing.T) {
	var logs bytes.Buffer
	var opts controller.Options
	view, err := prepareWeb("0.0.0.0:0", filepath.Join(t.TempDir(), "d"), slog.New(slog.NewTextHandler(&logs, nil)), &opts)
	if err != nil {
		t.Fatal(err)
	}
	view.close()
	if !strings.Contains(logs.String(), "beyond loopback") {
		t.Fatalf("no warning for 0.0.0.0: %q", logs.String())
	}
}
