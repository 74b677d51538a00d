package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// TestK3sThroughAnAgent runs the k3s verbs as jobs from a real controller
// to a real agent (temporary root, fake systemd): the token goes in as a
// secret file and the kubeconfig comes out sealed, and neither shows in
// the controller's or the agent's log, nor in a job record.
func TestK3sThroughAnAgent(t *testing.T) {
	const token = "K10-token-canary-51ad"
	const keyMark = "CLIENT-KEY-canary-9e2b"
	ctlLogs, agentLogs := &ct.LogBuffer{}, &ct.LogBuffer{}
	c := ct.StartController(t, func(o *controller.Options) { o.Logger = ctlLogs.Logger() })
	cl := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, cl, c, "cp-1", t.TempDir())
	root := t.TempDir()
	sys := &service.FakeSystemd{Root: root}
	kubeconfig := "apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n" +
		"users:\n- name: default\n  user:\n    client-key-data: " + keyMark + "\n"
	sys.OnStart = func(string) { // what k3s server writes once it runs
		os.WriteFile(filepath.Join(root, messages.K3sKubeconfigPath), []byte(kubeconfig), 0o600)
	}
	a, err := agent.New(agent.Options{Config: cfg, Version: "test", Facts: ct.Facts(cfg.ID), Logger: agentLogs.Logger(),
		Services: func(dial service.Dialer, v *messages.Verifier) agent.ServiceRunner {
			return service.New(service.Options{Root: root, Systemd: sys, Source: service.ObjectStore{Dial: dial},
				Verifier: v, Logger: agentLogs.Logger(), HealthTimeout: 8 * time.Second, HealthInterval: 20 * time.Millisecond})
		}})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(actx); close(done) }()
	t.Cleanup(func() { acancel(); <-done })
	ct.WaitOnline(t, cl, 1)
	hsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer hsrv.Close()
	ctx := context.Background()

	var records []messages.JobRecord
	job := func(verb string, payload any) messages.JobRecord {
		t.Helper()
		p, _ := json.Marshal(payload)
		rec, err := cl.RunJob(ctx, messages.JobRunRequest{Verb: verb, Hosts: []string{"cp-1"}, Payload: p})
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
		records = append(records, rec)
		return rec
	}

	pub, priv, err := messages.NewK3sKubeconfigKey()
	if err != nil {
		t.Fatal(err)
	}
	rec := job(messages.VerbK3sKubeconfig, messages.K3sKubeconfigRequest{Recipient: pub[:]})
	if rec.State == messages.JobSucceeded || !strings.Contains(rec.Hosts[0].Error, "k3s has not written its kubeconfig (/etc/rancher/k3s/k3s.yaml) yet on cp-1") {
		t.Fatalf("kubeconfig before k3s ran: %+v", rec)
	}

	upload(t, c, cl, messages.ArtifactObjectName("k3s", "v1.31.4+k3s1", "k3s"), randomBytes(32<<10))
	spec := messages.ServiceSpec{Component: messages.K3sComponent, Version: "v1.31.4+k3s1",
		Artifact: importArtifact(t, c, "k3s", "v1.31.4+k3s1", "k3s"), Args: []string{"server"},
		Files: []messages.ServiceFile{{Name: "config.yaml", Content: "token-file: /etc/rancher/k3s/token\n"},
			{Name: "token", Content: token, Secret: true}},
		Health: messages.ServiceHealth{URL: hsrv.URL + "/readyz"}}
	rec = job(messages.VerbServiceApply, spec)
	if rec.State != messages.JobSucceeded {
		t.Fatalf("apply: %+v", rec)
	}
	if st, err := os.Stat(filepath.Join(root, messages.K3sConfigDir, "token")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", st, err)
	}
	job(messages.VerbServicePlan, spec)

	rec = job(messages.VerbK3sKubeconfig, messages.K3sKubeconfigRequest{Recipient: pub[:]})
	if rec.State != messages.JobSucceeded {
		t.Fatalf("kubeconfig: %+v", rec)
	}
	reply, err := messages.DecodeK3sKubeconfigReply(rec.Hosts[0].Result)
	if err != nil {
		t.Fatalf("job result %s: %v", rec.Hosts[0].Result, err)
	}
	got, err := messages.OpenK3sKubeconfig(reply, pub, priv)
	if err != nil || string(got) != kubeconfig {
		t.Fatalf("opened %q: %v", got, err)
	}
	job(messages.VerbServiceRemove, messages.ServiceQuery{Component: messages.K3sComponent, Purge: true})
	if _, err := os.Stat(filepath.Join(root, messages.K3sConfigDir)); !os.IsNotExist(err) {
		t.Fatalf("purge left %s: %v", messages.K3sConfigDir, err)
	}

	list, err := cl.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen, _ := json.Marshal([]any{records, list})
	for _, secret := range []string{token, keyMark} {
		for what, text := range map[string]string{"controller log": ctlLogs.String(), "agent log": agentLogs.String(), "job records": string(seen)} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s shows %s", what, secret)
			}
		}
	}
	if !strings.Contains(agentLogs.String(), "command accepted") || !strings.Contains(agentLogs.String(), "k3s_kubeconfig") {
		t.Fatal("the agent's log was not captured")
	}
}
