package service_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// upload puts data into the artifact store through the controller as the
// admin operator, as foundry artifact import does before asking the
// controller to sign it. It returns the store as the controller's own
// connection sees it, for tests that tamper with it (operators have no
// JetStream access).
func upload(t *testing.T, c *controller.Controller, cl *client.Client, name string, data []byte) jetstream.ObjectStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parts := strings.SplitN(name, "/", 3)
	if len(parts) != 3 {
		t.Fatalf("artifact name %q is not component/version/file", name)
	}
	if err := cl.UploadArtifact(ctx, parts[0], parts[1], parts[2], bytes.NewReader(data)); err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	obs, err := c.JetStream().ObjectStore(ctx, messages.ArtifactBucket)
	if err != nil {
		t.Fatalf("open artifact store: %v", err)
	}
	return obs
}

func importArtifact(t *testing.T, c *controller.Controller, component, version, file string) messages.ArtifactRef {
	t.Helper()
	res, err := c.ImportArtifact(context.Background(), messages.ArtifactImportRequest{Component: component, Version: version, Files: []string{file}})
	if err != nil || len(res.Artifacts) != 1 || !res.Artifacts[0].Verified {
		t.Fatalf("import %s/%s/%s: %+v %v", component, version, file, res, err)
	}
	return res.Artifacts[0].ArtifactRef
}

// agentConn connects with the identity of agent cfg the way the agent
// does (its inbox prefix), collecting asynchronous errors; name picks the
// permissions (the command connection or messages.AgentFetchConnName).
func agentConn(t *testing.T, cfg agent.Config, name string) (*nats.Conn, chan error) {
	t.Helper()
	nc, errs, err := connectAs(cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

func connectAs(cfg agent.Config, name string) (*nats.Conn, chan error, error) {
	seed, err := os.ReadFile(cfg.NKeyFile)
	if err != nil {
		return nil, nil, err
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(seed))
	if err != nil {
		return nil, nil, err
	}
	pub, _ := kp.PublicKey()
	errs := make(chan error, 16)
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), nats.Name(name), nats.Nkey(pub, kp.Sign), nats.RootCAs(cfg.CAFile),
		nats.CustomInboxPrefix(messages.AgentInbox(cfg.ID)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		return nil, nil, fmt.Errorf("connect as agent %s: %w", cfg.ID, err)
	}
	return nc, errs, nil
}

// expectViolation waits for the server's permissions violation naming
// subject.
func expectViolation(t *testing.T, errs chan error, subject string) {
	t.Helper()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation") || !strings.Contains(err.Error(), subject) {
			t.Fatalf("unexpected async error %v, want a permissions violation for %s", err, subject)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no permissions violation for %s", subject)
	}
}

func trust(t *testing.T, cfg agent.Config) *messages.Verifier {
	t.Helper()
	var keys []ed25519.PublicKey
	for _, k := range cfg.TrustedKeys {
		pk, err := messages.ParsePublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, pk)
	}
	return messages.NewVerifier(keys, nil)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestFetchFromTheControllerArtifactStore fetches artifacts the
// controller signed through an agent identity's own connection, and
// proves what the agent refuses and what it may not do.
func TestFetchFromTheControllerArtifactStore(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, cl, c, "web-1", t.TempDir())
	fetchName := messages.AgentFetchConnName(cfg.ID)
	nc, asyncErrs := agentConn(t, cfg, fetchName)
	var fetchConns []*nats.Conn
	src := service.ObjectStore{Dial: func(context.Context) (*nats.Conn, error) {
		fc, _, err := connectAs(cfg, fetchName)
		if err != nil {
			return nil, err
		}
		fetchConns = append(fetchConns, fc)
		return fc, nil
	}}
	v := trust(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Several MiB: many chunks, so several requests to the controller.
	data := randomBytes(9<<20 + 123)
	name := messages.ArtifactObjectName("hellosvc", "1.0.0", "hello")
	obs := upload(t, c, cl, name, data)
	ref := importArtifact(t, c, "hellosvc", "1.0.0", "hello")
	sum := sha256.Sum256(data)
	if ref.SHA256 != hex.EncodeToString(sum[:]) || ref.Size != int64(len(data)) {
		t.Fatalf("import recorded %+v", ref)
	}

	t.Run("signed bytes are installed", func(t *testing.T) {
		dir := t.TempDir()
		dst := filepath.Join(dir, "hello")
		start := time.Now()
		if err := service.FetchArtifact(ctx, src, v, ref, dst); err != nil {
			t.Fatal(err)
		}
		t.Logf("fetched %d MiB in %s", len(data)>>20, time.Since(start).Round(time.Millisecond))
		got, _ := os.ReadFile(dst)
		st, _ := os.Stat(dst)
		if !bytes.Equal(got, data) || st.Mode().Perm() != 0o755 {
			t.Fatalf("installed %d bytes, mode %o", len(got), st.Mode().Perm())
		}
		if ents := dirEntries(t, dir); len(ents) != 1 {
			t.Fatalf("left in the directory: %v", ents)
		}
		if len(fetchConns) != 1 || !fetchConns[0].IsClosed() {
			t.Fatalf("the fetch did not use one connection of its own and close it (%d opened)", len(fetchConns))
		}
	})

	t.Run("only the fetch connection reads the store, and it does nothing else", func(t *testing.T) {
		cmdConn, cmdErrs := agentConn(t, cfg, "foundry-agent:"+cfg.ID)
		js, err := jetstream.New(cmdConn)
		if err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		defer scancel()
		if _, err := js.ObjectStore(sctx, messages.ArtifactBucket); err == nil {
			t.Fatal("the agent's command connection opened the artifact store")
		}
		// Neither the answers' inbox nor the request is allowed.
		expectViolation(t, cmdErrs, messages.AgentInbox(cfg.ID))
		expectViolation(t, cmdErrs, "$JS.API.STREAM.INFO.OBJ_"+messages.ArtifactBucket)

		cmd, _ := messages.CommandSubject(cfg.ID)
		if _, err := nc.SubscribeSync(cmd); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, asyncErrs, cmd)
		hb, _ := messages.HeartbeatSubject(cfg.ID)
		if err := nc.Publish(hb, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, asyncErrs, hb)
	})

	t.Run("a signature by a key the host does not trust is refused before fetching", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		s := messages.NewSigner(other)
		bad := ref
		bad.KeyID, bad.Sig = s.SignBytes(messages.ArtifactSigningBytes(ref.Component, ref.Version, ref.File, ref.Size, ref.SHA256))
		err := service.FetchArtifact(ctx, src, v, bad, filepath.Join(t.TempDir(), "hello"))
		if messages.CodeOf(err) != messages.CodeUnknownKey {
			t.Fatalf("%v", err)
		}
	})

	t.Run("an uploaded but unsigned artifact is refused", func(t *testing.T) {
		upload(t, c, cl, messages.ArtifactObjectName("hellosvc", "9.9.9", "hello"), []byte("not imported"))
		unsigned := messages.ArtifactRef{Component: "hellosvc", Version: "9.9.9", File: "hello", Size: 12,
			SHA256: strings.Repeat("0", 64)}
		dir := t.TempDir()
		err := service.FetchArtifact(ctx, src, v, unsigned, filepath.Join(dir, "hello"))
		if messages.CodeOf(err) != messages.CodeUnsigned || !strings.Contains(err.Error(), "foundry artifact import hellosvc 9.9.9 <file>") {
			t.Fatalf("%v", err)
		}
		if ents := dirEntries(t, dir); len(ents) != 0 {
			t.Fatalf("left: %v", ents)
		}
	})

	t.Run("a missing object names the import command", func(t *testing.T) {
		// Signed for real, then deleted: the refusal is about the store.
		upload(t, c, cl, messages.ArtifactObjectName("hellosvc", "3.0.0", "hello"), data[:10])
		missing := importArtifact(t, c, "hellosvc", "3.0.0", "hello")
		if err := obs.Delete(ctx, missing.ObjectName()); err != nil {
			t.Fatal(err)
		}
		err := service.FetchArtifact(ctx, src, v, missing, filepath.Join(t.TempDir(), "hello"))
		if messages.CodeOf(err) != messages.CodeNotFound || !strings.Contains(err.Error(), "foundry artifact import hellosvc 3.0.0 <file>") {
			t.Fatalf("%v", err)
		}
	})

	t.Run("a transfer whose connection goes away fails at once, not at the command's deadline", func(t *testing.T) {
		// A command's deadline is minutes away; the controller dying
		// mid-transfer must not hold the component's lock that long.
		lctx, lcancel := context.WithTimeout(ctx, 2*time.Minute)
		defer lcancel()
		opened := len(fetchConns)
		r, err := src.Open(lctx, name)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := io.ReadFull(r, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
		fetchConns[opened].Close() // as when the controller goes away
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, r)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "connection to the controller closed") {
				t.Fatalf("read after the connection closed: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the read still waits 20 s after its connection closed")
		}
	})

	t.Run("the fetch connection has no JetStream access: no store, no consumer, no write", func(t *testing.T) {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		if _, err := js.ObjectStore(pctx, messages.ArtifactBucket); err == nil {
			t.Fatal("the fetch connection opened the artifact store through JetStream")
		}
		expectViolation(t, asyncErrs, "$JS.API.STREAM.INFO.OBJ_"+messages.ArtifactBucket)
		other, _ := messages.CommandSubject("web-2")
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		defer ccancel()
		if _, err := js.CreateOrUpdateConsumer(cctx, "OBJ_"+messages.ArtifactBucket, jetstream.ConsumerConfig{Name: "evil", DeliverSubject: other}); err == nil {
			t.Fatal("the fetch connection created a push consumer delivering to another host's command subject")
		}
		expectViolation(t, asyncErrs, "$JS.API.CONSUMER.CREATE.OBJ_"+messages.ArtifactBucket)
		if err := nc.Publish("$O."+messages.ArtifactBucket+".C.x", []byte("evil")); err != nil {
			t.Fatal(err)
		}
		expectViolation(t, asyncErrs, "$O."+messages.ArtifactBucket)
	})

	// Last: it replaces the artifact.
	t.Run("bytes replaced after import are refused and nothing is installed", func(t *testing.T) {
		info, err := obs.GetInfo(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		// Same name, same size, same signed metadata: only the bytes differ.
		evil := randomBytes(len(data))
		if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: info.Metadata}, bytes.NewReader(evil)); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		err = service.FetchArtifact(ctx, src, v, ref, filepath.Join(dir, "hello"))
		evilSum := sha256.Sum256(evil)
		want := fmt.Sprintf("artifact %s: sha256 of the fetched bytes is %s, the signed one is %s; re-import it with foundry artifact import hellosvc 1.0.0 <file>",
			name, hex.EncodeToString(evilSum[:]), ref.SHA256)
		if err == nil || err.Error() != want || messages.CodeOf(err) != messages.CodeBadSignature {
			t.Fatalf("got  %v\nwant %s", err, want)
		}
		if ents := dirEntries(t, dir); len(ents) != 0 {
			t.Fatalf("left in the directory: %v", ents)
		}
		list, _ := c.ListArtifacts(ctx, messages.ArtifactListRequest{Component: "hellosvc", Version: "1.0.0"})
		if len(list.Artifacts) != 1 || list.Artifacts[0].Verified {
			t.Fatalf("the controller does not see the swap either: %+v", list)
		}
	})
}

// TestServiceJobThroughAnAgent runs service verbs as jobs from the
// controller to a real agent whose executor works on a temporary root
// with a fake systemd: payload plumbing, per-host results, and service
// operations that do not block other commands.
func TestServiceJobThroughAnAgent(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, cl, c, "web-1", t.TempDir())
	root := t.TempDir()
	sys := &service.FakeSystemd{Root: root}
	a, err := agent.New(agent.Options{Config: cfg, Version: "test", Facts: ct.Facts(cfg.ID),
		Services: func(dial service.Dialer, v *messages.Verifier) agent.ServiceRunner {
			return service.New(service.Options{Root: root, Systemd: sys, Source: service.ObjectStore{Dial: dial},
				Verifier: v, HealthTimeout: 8 * time.Second, HealthInterval: 20 * time.Millisecond})
		}})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(actx); close(done) }()
	t.Cleanup(func() { acancel(); <-done })
	ct.WaitOnline(t, cl, 1)

	var mu sync.Mutex
	healthy := false
	hsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !healthy {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok 1.0.0"))
	}))
	defer hsrv.Close()

	data := randomBytes(64 << 10)
	upload(t, c, cl, messages.ArtifactObjectName("hellosvc", "1.0.0", "hello"), data)
	spec := messages.ServiceSpec{Component: "hellosvc", Version: "1.0.0", Artifact: importArtifact(t, c, "hellosvc", "1.0.0", "hello"),
		Args: []string{"-addr", ":8080"}, Files: []messages.ServiceFile{{Name: "hello.conf", Content: "hi\n"}},
		Health: messages.ServiceHealth{URL: hsrv.URL + "/health"}}
	payload, _ := json.Marshal(spec)
	ctx := context.Background()

	job := func(verb string, p []byte) messages.JobRecord {
		t.Helper()
		rec, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: verb, Hosts: []string{"web-1"}, Payload: p})
		if err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
		ct.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
			if rec, err = cl.Job(ctx, rec.ID); err != nil {
				return err
			}
			if rec.State == messages.JobRunning {
				return fmt.Errorf("job %s still running", rec.ID)
			}
			return nil
		})
		return rec
	}

	t.Run("a bad payload is refused before any host sees it", func(t *testing.T) {
		bad := spec
		bad.Health.URL = "ftp://x"
		b, _ := json.Marshal(bad)
		_, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbServiceApply, Hosts: []string{"web-1"}, Payload: b})
		if messages.CodeOf(err) != messages.CodeBadRequest || !strings.Contains(err.Error(), "health URL") {
			t.Fatalf("%v", err)
		}
		_, err = cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbServiceStatus, Hosts: []string{"web-1"}, Payload: []byte(`{"component":"Bad"}`)})
		if messages.CodeOf(err) != messages.CodeBadRequest {
			t.Fatalf("%v", err)
		}
	})

	t.Run("apply runs beside other commands and reports its steps", func(t *testing.T) {
		rec, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbServiceApply, Hosts: []string{"web-1"}, Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		// The apply is now waiting for health; the agent still answers.
		ct.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
			st, err := sys.State(ctx, messages.ServiceUnit("hellosvc"))
			if err != nil || st.ActiveState != "active" {
				return fmt.Errorf("not started yet: %+v %v", st, err)
			}
			return nil
		})
		start := time.Now()
		res, err := cl.FleetStatus(ctx, messages.FleetStatusRequest{Hosts: []string{"web-1"}, TimeoutMs: 5000})
		if err != nil || len(res.Responded) != 1 {
			t.Fatalf("status during an apply: %+v %v", res, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("status waited %s behind the apply", d)
		}
		if r, _ := cl.Job(ctx, rec.ID); r.State != messages.JobRunning {
			t.Fatalf("the apply was not running meanwhile: %+v", r)
		}
		mu.Lock()
		healthy = true
		mu.Unlock()
		ct.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
			if rec, err = cl.Job(ctx, rec.ID); err != nil || rec.State == messages.JobRunning {
				return fmt.Errorf("running: %v", err)
			}
			return nil
		})
		h := rec.Hosts[0]
		var reply messages.ServiceApplyReply
		if err := json.Unmarshal(h.Result, &reply); err != nil || rec.State != messages.JobSucceeded || h.State != messages.HostOK {
			t.Fatalf("job %+v, result %s: %v", rec, h.Result, err)
		}
		if !reply.Changed || len(reply.Steps) != 6 || !reply.Steps[0].Changed || reply.Steps[0].Detail != "install 1.0.0" {
			t.Fatalf("reply %+v", reply)
		}
		got, _ := os.ReadFile(filepath.Join(root, service.BinPath(spec)))
		if !bytes.Equal(got, data) {
			t.Fatal("binary not installed from the store")
		}
	})

	t.Run("re-apply changes nothing; status and plan say so", func(t *testing.T) {
		rec := job(messages.VerbServiceApply, payload)
		var reply messages.ServiceApplyReply
		json.Unmarshal(rec.Hosts[0].Result, &reply)
		if rec.State != messages.JobSucceeded || reply.Changed {
			t.Fatalf("%+v %+v", rec, reply)
		}
		rec = job(messages.VerbServicePlan, payload)
		json.Unmarshal(rec.Hosts[0].Result, &reply)
		if rec.State != messages.JobSucceeded || reply.Changed {
			t.Fatalf("plan %+v %+v", rec, reply)
		}
		q, _ := json.Marshal(messages.ServiceQuery{Component: "hellosvc", Health: &messages.ServiceHealth{URL: hsrv.URL}})
		rec = job(messages.VerbServiceStatus, q)
		var st messages.ServiceStatus
		json.Unmarshal(rec.Hosts[0].Result, &st)
		if !st.Installed || st.Version != "1.0.0" || st.ActiveState != "active" || st.HealthStatus != 200 || st.HealthBody != "ok 1.0.0" {
			t.Fatalf("status %+v", st)
		}
	})

	t.Run("a failed apply reports its rollback", func(t *testing.T) {
		mu.Lock()
		healthy = false
		mu.Unlock()
		bad := spec
		bad.Files = []messages.ServiceFile{{Name: "hello.conf", Content: "changed\n"}}
		b, _ := json.Marshal(bad)
		began := time.Now()
		rec, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbServiceApply, Hosts: []string{"web-1"}, Payload: b, TimeoutMs: 60_000})
		if err != nil {
			t.Fatal(err)
		}
		ct.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
			if rec, err = cl.Job(ctx, rec.ID); err != nil || rec.State == messages.JobRunning {
				return fmt.Errorf("running: %v", err)
			}
			return nil
		})
		h := rec.Hosts[0]
		var reply messages.ServiceApplyReply
		json.Unmarshal(h.Result, &reply)
		if (rec.State != messages.JobFailed && rec.State != messages.JobStopped) || h.State != messages.HostFailed || !reply.RolledBack ||
			!strings.HasPrefix(h.Error, "health: ") || !strings.Contains(h.Error, "rolled back to 1.0.0") {
			t.Fatalf("job %+v\nreply %+v", rec, reply)
		}
		conf, _ := os.ReadFile(filepath.Join(root, messages.ServiceConfigDir("hellosvc"), "hello.conf"))
		if string(conf) != "hi\n" {
			t.Fatalf("config not restored: %q", conf)
		}
		t.Logf("failed apply with rollback took %s", time.Since(began).Round(time.Millisecond))
	})

	t.Run("remove, twice", func(t *testing.T) {
		q, _ := json.Marshal(messages.ServiceQuery{Component: "hellosvc"})
		rec := job(messages.VerbServiceRemove, q)
		var reply messages.ServiceRemoveReply
		json.Unmarshal(rec.Hosts[0].Result, &reply)
		if rec.State != messages.JobSucceeded || !reply.Changed {
			t.Fatalf("%+v %+v", rec, reply)
		}
		rec = job(messages.VerbServiceRemove, q)
		reply = messages.ServiceRemoveReply{}
		json.Unmarshal(rec.Hosts[0].Result, &reply)
		if rec.State != messages.JobSucceeded || reply.Changed {
			t.Fatalf("second remove %+v %+v", rec, reply)
		}
	})
}

// TestAgentWithoutServicesRefusesServiceVerbs: test and simulated agents
// (no Uninstall, no Services) never touch the host they run on.
func TestAgentWithoutServicesRefusesServiceVerbs(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ct.StartAgents(t, c, cl, "sim", 1)
	ct.WaitOnline(t, cl, 1)
	ctx := context.Background()
	q, _ := json.Marshal(messages.ServiceQuery{Component: "hellosvc"})
	rec, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbServiceStatus, Hosts: []string{"sim-1"}, Payload: q})
	if err != nil {
		t.Fatal(err)
	}
	ct.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if rec, err = cl.Job(ctx, rec.ID); err != nil || rec.State == messages.JobRunning {
			return fmt.Errorf("running: %v", err)
		}
		return nil
	})
	if h := rec.Hosts[0]; h.State != messages.HostFailed || !strings.Contains(h.Error, `verb "service_status" is not supported`) {
		t.Fatalf("%+v", h)
	}
}

func TestStallReaderGivesUpOnASilentSource(t *testing.T) {
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte("some bytes")) }() // then silence
	r := service.NewStallReader(pr, 200*time.Millisecond)
	defer r.Close()
	start := time.Now()
	b, err := io.ReadAll(r)
	if err == nil || !strings.Contains(err.Error(), "stalled") || string(b) != "some bytes" {
		t.Fatalf("read %q, err %v", b, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s to notice the stall", d)
	}
}

func TestStallReaderPassesASteadySourceThrough(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		// A slow but live source: one byte per tick.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 5; i++ {
			_, _ = pw.Write([]byte("x"))
			<-tick.C
		}
		pw.Close()
	}()
	r := service.NewStallReader(pr, 200*time.Millisecond)
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "xxxxx" {
		t.Fatalf("read %q, err %v", b, err)
	}
}
