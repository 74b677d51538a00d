package secret

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

const rootToken = "root-token"

// bao is the OpenBAO test double over real HTTP.
type bao struct {
	srv *openbao.Server
	url string
}

func startBao(t *testing.T) *bao {
	t.Helper()
	srv := openbao.NewDev(rootToken)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &bao{srv: srv, url: ts.URL}
}

func (b *bao) client(t *testing.T, token string) func() (*secrets.BaoClient, error) {
	t.Helper()
	return func() (*secrets.BaoClient, error) {
		return secrets.NewBaoClient(secrets.BaoOptions{Address: b.url, Token: token})
	}
}

func (b *bao) put(t *testing.T, path string, data map[string]any) {
	t.Helper()
	c, err := b.client(t, rootToken)()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVPut(context.Background(), path, data, -1); err != nil {
		t.Fatal(err)
	}
}

func deadAddress(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(nil)
	u := ts.URL
	ts.Close()
	return u
}

type streams struct {
	io                 *cmdutil.IOStreams
	in, stdout, stderr *bytes.Buffer
}

func newStreams() streams {
	ios, in, out, errOut := cmdutil.Test()
	return streams{ios, in, out, errOut}
}

func noEnv(string) (string, bool) { return "", false }

// noVars points ~/.foundryvars at a file that does not exist.
func noVars(t *testing.T) func() (string, error) {
	p := filepath.Join(t.TempDir(), ".foundryvars")
	return func() (string, error) { return p, nil }
}

func varsFile(t *testing.T, text string) func() (string, error) {
	p := filepath.Join(t.TempDir(), ".foundryvars")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() (string, error) { return p, nil }
}

type brokenKeyring struct{}

func (brokenKeyring) Get(string, string) (string, error) {
	return "", errors.New("no D-Bus secret service")
}
func (brokenKeyring) Set(string, string, string) error { return errors.New("no D-Bus secret service") }
func (brokenKeyring) Delete(string, string) error      { return errors.New("no D-Bus secret service") }

func factory(s streams, home string) *cmdutil.Factory {
	return &cmdutil.Factory{IO: s.io, Home: func() (string, error) { return home, nil }, ConfigPath: func() string { return "" }}
}
