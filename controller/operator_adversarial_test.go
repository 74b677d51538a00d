package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// operatorConn connects with an operator's stolen credentials, with its
// own inbox prefix (the only place it may subscribe), collecting the
// asynchronous errors the server sends it.
func operatorConn(t *testing.T, c *controller.Controller, credsFile string, errs chan error) *nats.Conn {
	t.Helper()
	kp := keyPair(t, credsFile)
	pub, _ := kp.PublicKey()
	opts := []nats.Option{nats.Nkey(pub, kp.Sign), nats.NoReconnect(), nats.CustomInboxPrefix(controller.OperatorInbox(pub)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		})}
	if ca := ct.WriteCA(t, c); ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	nc, err := nats.Connect(c.URLs()[0], opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// A stolen operator credential, admin or read-only, can make neither the
// server nor the controller deliver anything outside its own inbox: push
// consumers with a foreign deliver subject and every JetStream request
// (whose reply subject NATS does not check) are refused by permission,
// so none is created; a correctly signed API request (a stream read, a
// host list, an artifact read or an upload step) whose reply subject is
// a host's command subject, the broadcast or another inbox is dropped
// unanswered and unexecuted. The same credential still reads events and
// audit records, lists and follows, through the controller.
func TestStolenOperatorCredentialCannotDeliverStreamDataElsewhere(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ct.StartAgents(t, c, admin, "web", 2)
	ct.WaitOnline(t, admin, 2)
	viewerCreds := ct.CreateOperator(t, admin, "viewer", messages.RoleReadOnly)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Everything an attacker would like to hit listens here.
	var landed atomic.Int64
	web2cmd, _ := messages.CommandSubject("web-2")
	for _, s := range []string{web2cmd, messages.BroadcastSubject(), messages.AgentInbox("web-2") + ".>", "_INBOX.stolen.>"} {
		if _, err := c.InternalConn().Subscribe(s, func(*nats.Msg) { landed.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.InternalConn().Flush(); err != nil {
		t.Fatal(err)
	}
	streams := []string{controller.EventsStream, messages.AuditStream, "OBJ_" + messages.ArtifactBucket}
	// Artifact bytes an attacker would like delivered to a host.
	stored := importBytes(t, admin, "app", []byte("stored artifact"))

	for _, role := range []struct{ name, creds string }{{"admin", c.AdminCredsPath()}, {"read-only", viewerCreds}} {
		t.Run(role.name, func(t *testing.T) {
			errs := make(chan error, 1024)
			nc := operatorConn(t, c, role.creds, errs)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			for _, stream := range streams {
				for _, cfg := range []jetstream.ConsumerConfig{
					{Name: "evil", DeliverSubject: web2cmd},
					{Durable: "evil-durable", DeliverSubject: messages.BroadcastSubject()},
				} {
					cctx, ccancel := context.WithTimeout(ctx, 500*time.Millisecond)
					_, err := js.CreateOrUpdateConsumer(cctx, stream, cfg)
					ccancel()
					if err == nil {
						t.Fatalf("consumer %+v created on %s", cfg, stream)
					}
				}
				// Raw JetStream requests with foreign replies: refused
				// before the server would answer anywhere.
				cfg, _ := json.Marshal(map[string]any{"stream_name": stream, "config": map[string]any{"deliver_subject": web2cmd}})
				for _, subj := range []string{
					"$JS.API.CONSUMER.CREATE." + stream, "$JS.API.CONSUMER.CREATE." + stream + ".x.>",
					"$JS.API.CONSUMER.DURABLE.CREATE." + stream + ".x", "$JS.API.DIRECT.GET." + stream,
					"$JS.API.CONSUMER.MSG.NEXT." + stream + ".x", "$JS.API.STREAM.INFO." + stream, "$JS.API.STREAM.MSG.GET." + stream,
					"$JS.API.INFO",
				} {
					body := []byte(`{"seq":1,"batch":1000}`)
					if strings.Contains(subj, "CREATE") {
						body = cfg
					}
					if err := nc.PublishRequest(subj, web2cmd, body); err != nil {
						t.Fatal(err)
					}
				}
				for i := range 50 {
					if err := nc.Publish(fmt.Sprintf("$JS.API.CONSUMER.DURABLE.CREATE.%s.d%d", stream, i), cfg); err != nil {
						t.Fatal(err)
					}
				}
			}

			// Correctly signed API requests whose reply is elsewhere.
			kp := keyPair(t, role.creds)
			read, _ := json.Marshal(messages.StreamReadRequest{Stream: messages.StreamEvents, Filter: messages.EventPrefix + ".*.*", SinceMs: 1})
			dropped := c.APIRequestsDropped()
			foreign := []string{web2cmd, messages.BroadcastSubject(), messages.AgentInbox("web-2") + ".x", "_INBOX.stolen.x",
				controller.OperatorInbox(strings.Repeat("U", 56)) + ".x"}
			chunks, _ := json.Marshal(messages.ArtifactChunkRequest{Name: stored.ObjectName(), Max: messages.MaxArtifactChunksPerRequest})
			step, _ := messages.EncodeArtifactUploadRequest(messages.ArtifactUploadRequest{Name: stored.ObjectName(), Upload: "0123456789abcdef", Chunk: []byte("evil")})
			reaching := 0 // requests the role may publish, which the controller must drop
			for _, reply := range foreign {
				for _, api := range []struct {
					subject string
					body    []byte
				}{{messages.APIStreamRead, read}, {messages.APIHostList, []byte(`{}`)},
					{messages.APIArtifactChunks, chunks}, {messages.APIArtifactUpload, step}} {
					m := signedMsg(t, kp, api.subject, api.body)
					m.Reply = reply
					if err := nc.PublishMsg(m); err != nil {
						t.Fatal(err)
					}
					if role.name == "admin" || slices.Contains(messages.ReadAPISubjects, api.subject) {
						reaching++
					}
				}
			}
			ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				if n := c.APIRequestsDropped() - dropped; n < uint64(reaching) {
					return fmt.Errorf("%d of %d requests with foreign replies dropped", n, reaching)
				}
				return nil
			})
			// None of them ran: no upload chunk beside the stored object's.
			if n, err := c.UploadChunks(ctx); err != nil || n != 1 {
				t.Fatalf("%d upload chunks after dropped uploads (%v), want the stored object's 1", n, err)
			}

			// The credential's own reads still work: a list, and a follow
			// that sees an event published after it started.
			cl := ct.ClientWithCreds(t, c, role.creds)
			n := 0
			if err := cl.Events(ctx, client.EventQuery{Since: time.Hour}, func(messages.Event) error { n++; return nil }); err != nil || n == 0 {
				t.Fatalf("events list: %d events, %v", n, err)
			}
			n = 0
			if err := cl.Audit(ctx, client.AuditQuery{Since: time.Hour}, func(messages.AuditRecord) error { n++; return nil }); err != nil || n == 0 {
				t.Fatalf("audit list: %d records, %v", n, err)
			}
			// The previous follow's last read may still wait on the
			// controller; let it end, so the count below is this one's.
			ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				if n := c.StreamReadsWaiting(); n != 0 {
					return fmt.Errorf("%d stream reads still waiting", n)
				}
				return nil
			})
			tctx, stop := context.WithCancel(ctx)
			defer stop()
			seen := make(chan messages.Event, 16)
			done := make(chan error, 1)
			go func() {
				done <- cl.Events(tctx, client.EventQuery{Host: "web-1", Follow: true}, func(e messages.Event) error { seen <- e; return nil })
			}()
			ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				if c.StreamReadsWaiting() == 0 {
					return fmt.Errorf("the follow is not waiting yet")
				}
				return nil
			})
			subj, _ := messages.EventSubject("web-1", messages.EventAgentStarted)
			ev, _ := json.Marshal(messages.Event{V: messages.Version, Time: time.Now().UnixMilli(), Type: messages.EventAgentStarted, Message: "follow-" + role.name})
			if err := c.InternalConn().Publish(subj, ev); err != nil {
				t.Fatal(err)
			}
			select {
			case e := <-seen:
				if e.Host != "web-1" || e.Message != "follow-"+role.name {
					t.Fatalf("follow got %+v", e)
				}
			case err := <-done:
				t.Fatalf("the follow ended before it saw a new event: %v", err)
			case <-ctx.Done():
				t.Fatal("the follow did not see a new event")
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("interrupted follow: %v", err)
			}

			if err := c.InternalConn().Flush(); err != nil {
				t.Fatal(err)
			}
			if n := landed.Load(); n != 0 {
				t.Fatalf("%d message(s) reached a host's subjects, the broadcast or a foreign inbox", n)
			}
			ijs, err := jetstream.New(c.InternalConn())
			if err != nil {
				t.Fatal(err)
			}
			for _, stream := range streams {
				s, err := ijs.Stream(ctx, stream)
				if err != nil {
					t.Fatal(err)
				}
				info, err := s.Info(ctx)
				if err != nil || info.State.Consumers != 0 {
					t.Fatalf("%s has %d consumers after the attempts (%v)", stream, info.State.Consumers, err)
				}
			}
			var violations int
			for len(errs) > 0 {
				if strings.Contains((<-errs).Error(), "Permissions Violation") {
					violations++
				}
			}
			if violations == 0 {
				t.Fatal("no permission violation reported to the attacker's connection")
			}
		})
	}
}
