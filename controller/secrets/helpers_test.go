package secrets

import (
	"net/http/httptest"
	"testing"

	"github.com/foundry-fleet/foundry/e2e/doubles/openbao"
)

const rootToken = "root-token"

// startBao runs the OpenBAO test double over real HTTP and returns it with
// a client holding token.
func startBao(t *testing.T, token string) (*openbao.Server, *BaoClient) {
	t.Helper()
	srv := openbao.NewDev(rootToken)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return srv, newClient(t, ts.URL, token)
}

func newClient(t *testing.T, addr, token string) *BaoClient {
	t.Helper()
	c, err := NewBaoClient(BaoOptions{Address: addr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deadAddress is an http address nothing listens on: a test server that
// was started and closed again.
func deadAddress(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(nil)
	addr := ts.URL
	ts.Close()
	return addr
}

// newUninitialised runs a double that has never been initialised.
func newUninitialised(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(openbao.New().Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}
