package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// fetchConnAs connects with an agent's stolen seed under the fetch
// connection's name and the agent's inbox prefix, the most an attacker
// with the seed gets for JetStream.
func fetchConnAs(t *testing.T, c *controller.Controller, seedFile, host string, errs chan error) *nats.Conn {
	t.Helper()
	b, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	opts := []nats.Option{nats.Name(messages.AgentFetchConnName(host)), nats.Nkey(pub, kp.Sign), nats.NoReconnect(),
		nats.CustomInboxPrefix(messages.AgentInbox(host)),
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

// A stolen agent credential can make nothing deliver artifact bytes (or
// anything else) outside its own inbox: JetStream consumers and requests
// are refused by permission, whatever deliver or reply subject they name,
// so mass consumer creation creates none; an artifact request whose reply
// subject is another host's command subject, the broadcast or another
// host's inbox is dropped by the controller; and the same request with the
// host's own inbox is answered.
func TestStolenAgentCredentialCannotDeliverArtifactsElsewhere(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	dir := t.TempDir()
	web1 := ct.EnrollConfig(t, admin, c, "web-1", dir)
	ct.EnrollConfig(t, admin, c, "web-2", dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ijs, err := jetstream.New(c.InternalConn())
	if err != nil {
		t.Fatal(err)
	}
	obs, err := ijs.ObjectStore(ctx, messages.ArtifactBucket)
	if err != nil {
		t.Fatal(err)
	}
	name := messages.ArtifactObjectName("hellosvc", "1.0.0", "hello")
	if _, err := obs.PutBytes(ctx, name, []byte(strings.Repeat("x", 300<<10))); err != nil {
		t.Fatal(err)
	}
	stream := "OBJ_" + messages.ArtifactBucket
	if s, err := ijs.Stream(ctx, stream); err != nil || s.CachedInfo().Config.MaxConsumers <= 0 {
		t.Fatalf("the artifact stream has no max_consumers bound: %v", err)
	}

	// Everything an attacker would like to hit listens here.
	var landed atomic.Int64
	web2cmd, _ := messages.CommandSubject("web-2")
	for _, s := range []string{web2cmd, messages.BroadcastSubject(), messages.AgentInbox("web-2") + ".>"} {
		if _, err := c.InternalConn().Subscribe(s, func(*nats.Msg) { landed.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.InternalConn().Flush(); err != nil {
		t.Fatal(err)
	}

	errs := make(chan error, 64)
	nc := fetchConnAs(t, c, web1.NKeyFile, "web-1", errs)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// Push consumers with foreign deliver subjects, durable or not.
	for _, cfg := range []jetstream.ConsumerConfig{
		{Name: "evil", DeliverSubject: web2cmd},
		{Durable: "evil-durable", DeliverSubject: messages.BroadcastSubject()},
	} {
		cctx, ccancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := js.CreateOrUpdateConsumer(cctx, stream, cfg)
		ccancel()
		if err == nil {
			t.Fatalf("consumer %+v created", cfg)
		}
	}
	// Raw JetStream API requests with foreign reply subjects: refused
	// before the server would answer anywhere.
	for _, subj := range []string{
		"$JS.API.CONSUMER.CREATE." + stream, "$JS.API.CONSUMER.CREATE." + stream + ".x.>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + stream + ".x", "$JS.API.DIRECT.GET." + stream,
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".x", "$JS.API.STREAM.INFO." + stream, "$JS.API.STREAM.MSG.GET." + stream,
	} {
		if err := nc.PublishRequest(subj, web2cmd, []byte(`{"seq":1,"batch":1000}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Mass creation: none of 200 attempts makes a consumer.
	cfg, _ := json.Marshal(map[string]any{"stream_name": stream, "config": map[string]any{"deliver_subject": web2cmd, "inactive_threshold": int64(time.Hour)}})
	for i := range 200 {
		if err := nc.Publish(fmt.Sprintf("$JS.API.CONSUMER.DURABLE.CREATE.%s.d%d", stream, i), cfg); err != nil {
			t.Fatal(err)
		}
	}
	// Artifact requests whose reply is not web-1's inbox are dropped.
	get, _ := messages.ArtifactGetSubject("web-1")
	req, _ := json.Marshal(messages.ArtifactChunkRequest{Name: name, Max: messages.MaxArtifactChunksPerRequest})
	for _, reply := range []string{web2cmd, messages.BroadcastSubject(), messages.AgentInbox("web-2") + ".x", messages.AgentInbox("web-1"), messages.AgentInbox("web-1") + ".*"} {
		if err := nc.PublishRequest(get, reply, req); err != nil {
			t.Fatal(err)
		}
	}
	// Another host's request subject is not web-1's to publish on.
	get2, _ := messages.ArtifactGetSubject("web-2")
	if err := nc.PublishRequest(get2, messages.AgentInbox("web-2")+".x", req); err != nil {
		t.Fatal(err)
	}
	// The host's own inbox is answered, after all of the above: the
	// controller takes requests in order, so by now it dropped them.
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest(get, inbox, req); err != nil {
		t.Fatal(err)
	}
	var got int
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatalf("the host's own request was not answered: %v", err)
		}
		if e := m.Header.Get(messages.HeaderArtifactError); e != "" {
			t.Fatalf("own request: %s", e)
		}
		if m.Header.Get(messages.HeaderArtifactEnd) != "" {
			break
		}
		got += len(m.Data)
	}
	if got != 300<<10 {
		t.Fatalf("own request got %d bytes, want %d", got, 300<<10)
	}
	if err := c.InternalConn().Flush(); err != nil {
		t.Fatal(err)
	}
	if n := landed.Load(); n != 0 {
		t.Fatalf("%d message(s) reached another host's or the broadcast subject", n)
	}
	si, err := ijs.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := si.Info(ctx)
	if err != nil || info.State.Consumers != 0 {
		t.Fatalf("the artifact stream has %d consumers after the attempts (%v)", info.State.Consumers, err)
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
}
