package controller_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// errorLog collects what the server tells a connection asynchronously.
type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errorLog) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err.Error())
}

func (l *errorLog) has(s string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.errs {
		if strings.Contains(strings.ToLower(e), s) {
			return nil
		}
	}
	return fmt.Errorf("no %q among the server's errors %q", s, l.errs)
}

// A stolen agent credential cannot publish more than an agent ever sends
// in one message, nor hold more subscriptions than an agent needs: the
// server cuts the connection on the first oversized message and refuses
// subscriptions past the limit. Messages up to the limit still go, and
// operators keep the server's larger limit (artifact uploads need it).
func TestAgentCredentialHasPerConnectionPayloadAndSubscriptionLimits(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, cl, c, "web-1", t.TempDir())
	hb, _ := messages.HeartbeatSubject("web-1")

	var log errorLog
	nc, err := connectAs(t, c, cfg.NKeyFile, nats.ErrorHandler(log.handler))
	if err != nil {
		t.Fatal(err)
	}
	// The largest message an agent may send goes through (the controller
	// drops it as a heartbeat, but the connection stays).
	if err := nc.Publish(hb, bytes.Repeat([]byte("x"), messages.MaxAgentPublishBytes-len(hb)-64)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("a message within the agent limit cut the connection: %v", err)
	}

	cmd, _ := messages.CommandSubject("web-1")
	for i := range messages.MaxAgentSubscriptions + 5 {
		if _, err := nc.Subscribe(cmd, func(*nats.Msg) {}); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
	}
	_ = nc.Flush()
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error { return log.has("maximum subscriptions exceeded") })

	// The client library now knows the agent limit and refuses a larger
	// message itself...
	if err := nc.Publish(hb, bytes.Repeat([]byte("x"), 1<<20)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("publish of 1 MiB: %v, want %v", err, nats.ErrMaxPayload)
	}
	// ...and a client that ignores it (as a thief's would) is cut by the
	// server.
	answer := rawPublish(t, c, cfg.NKeyFile, hb, 1<<20)
	if !strings.Contains(answer, "Maximum Payload Violation") {
		t.Fatalf("the server answered a 1 MiB message from an agent credential with %q, want a maximum payload violation", answer)
	}

	// An operator is not held to the agent limit.
	op := cl.Conn()
	if err := op.Publish(messages.APIHostList, bytes.Repeat([]byte("x"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := op.Flush(); err != nil || op.IsClosed() {
		t.Fatalf("an operator's 1 MiB message cut its connection: %v", err)
	}
}

// rawPublish speaks the NATS protocol itself, as a client that ignores
// the max_payload the server announces would: it logs in with the seed in
// seedFile, publishes size bytes to subj and returns everything the
// server says until it closes the connection (or 5 s pass).
func rawPublish(t *testing.T, c *controller.Controller, seedFile, subj string, size int) string {
	t.Helper()
	seed, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(seed))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n') // INFO, before TLS
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(line), "INFO ")), &info); err != nil {
		t.Fatalf("INFO %q: %v", line, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM())
	tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
	sig, _ := kp.Sign([]byte(info.Nonce))
	pub, _ := kp.PublicKey()
	connect, _ := json.Marshal(map[string]any{"nkey": pub, "sig": base64.RawURLEncoding.EncodeToString(sig),
		"verbose": false, "pedantic": false, "tls_required": true, "protocol": 1, "lang": "raw"})
	msg := fmt.Sprintf("CONNECT %s\r\nPING\r\nPUB %s %d\r\n%s\r\nPING\r\n", connect, subj, size, strings.Repeat("x", size))
	go func() { _, _ = io.WriteString(tc, msg) }()
	out, _ := io.ReadAll(tc) // until the server closes or the deadline
	return string(out)
}
