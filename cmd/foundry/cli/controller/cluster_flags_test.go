package controller

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/pki"
)

func TestRunClusterFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	var got *RunOptions
	cmd := NewCmdRun(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *RunOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--name", "ctl-b", "--cluster", "0.0.0.0:6222", "--cluster-name", "prod",
		"--routes", "nats://ctl-a:6222,nats://ctl-b:6222,nats://ctl-c:6222", "--replicas", "3", "--cluster-advertise", "ctl-b.internal:6222"})
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Name != "ctl-b" || got.Cluster != "0.0.0.0:6222" || got.ClusterName != "prod" || got.Replicas != 3 ||
		got.ClusterAdvertise != "ctl-b.internal:6222" ||
		!reflect.DeepEqual(got.Routes, []string{"nats://ctl-a:6222", "nats://ctl-b:6222", "nats://ctl-c:6222"}) {
		t.Fatalf("%+v", got)
	}
	for _, want := range []string{"--cluster", "--routes", "--name", "ctl-c.example.net:6222"} {
		if !strings.Contains(cmd.Long+cmd.Flags().FlagUsages(), want) {
			t.Errorf("help does not mention %s", want)
		}
	}
	// --routes without --cluster is a usage error before anything starts.
	err := runRun(context.Background(), &RunOptions{IO: ios, Routes: []string{"nats://ctl-a:6222"}, DataDir: t.TempDir(), LogLevel: "info"})
	if err == nil || !strings.Contains(err.Error(), "--routes needs --cluster") {
		t.Fatalf("got %v", err)
	}
}

func TestInitKeysFromJoinsTheCluster(t *testing.T) {
	base := t.TempDir()
	first, second := filepath.Join(base, "a"), filepath.Join(base, "b")
	ios, _, out, errOut := cmdutil.Test()
	if err := initRun(&InitOptions{IO: ios, DataDir: first, Listen: "0.0.0.0:4222", Advertise: []string{"ctl-a.example"}, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var a initJSON
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut2 := cmdutil.Test()
	if err := initRun(&InitOptions{IO: ios, DataDir: second, Listen: "0.0.0.0:4222", Advertise: []string{"ctl-b.example"}, KeysFrom: first, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var b struct {
		initJSON
		Copied []string `json:"copied"`
	}
	if err := json.Unmarshal(out.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b.SigningKey != a.SigningKey || b.AdminKey != a.AdminKey || b.CertSerial == a.CertSerial || len(b.Copied) != len(controller.SharedKeyFiles) {
		t.Fatalf("first %+v, second %+v", a, b)
	}
	if b.Names[0] != "ctl-b.example" {
		t.Fatalf("second controller's certificate names %v", b.Names)
	}
	for _, f := range []string{controller.RouteSecretFile, pki.CAKeyFile, controller.SigningKeyFile} {
		sa, _ := os.ReadFile(filepath.Join(first, f))
		sb, _ := os.ReadFile(filepath.Join(second, f))
		if string(sa) != string(sb) {
			t.Fatalf("%s differs", f)
		}
		if strings.Contains(out.String()+errOut.String()+errOut2.String(), strings.TrimSpace(string(sa))) {
			t.Fatalf("init printed the content of %s", f)
		}
	}
	// A data directory of another cluster is not overwritten.
	ios, _, _, _ = cmdutil.Test()
	other := filepath.Join(base, "c")
	if err := initRun(&InitOptions{IO: ios, DataDir: other, Listen: "127.0.0.1:4222"}); err != nil {
		t.Fatal(err)
	}
	if err := initRun(&InitOptions{IO: ios, DataDir: other, Listen: "127.0.0.1:4222", KeysFrom: first}); err == nil || !strings.Contains(err.Error(), "different") {
		t.Fatalf("got %v", err)
	}
}

// initJSON is controller init's --json answer, its certificate expiry in
// RFC 3339 as the CLI prints times.
type initJSON struct {
	controller.InitResult
	CertExpires string `json:"cert_expires"`
}
