package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

func TestNewCmdInitParsesFlags(t *testing.T) {
	e := newEnv(t, nil)
	var got *InitOptions
	cmd := NewCmdInit(e.factory(), func(o *InitOptions) error { got = o; return nil })
	cmd.SetArgs([]string{
		"--name", "prod", "--domain", "example.com",
		"--host", "node1.example.com,control-plane", "--host", "node2.example.com",
		"--component", "zot,grafana", "--component", "velero", "--force",
	})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Name != "prod" || got.Domain != "example.com" || !got.Force {
		t.Fatalf("%+v", got)
	}
	if strings.Join(got.Hosts, "|") != "node1.example.com,control-plane|node2.example.com" {
		t.Fatalf("hosts %q (a comma inside --host must not split it)", got.Hosts)
	}
	if strings.Join(got.Components, ",") != "zot,grafana,velero" {
		t.Fatalf("components %q", got.Components)
	}
}

func TestNewCmdInitWithoutTTYNeedsFlags(t *testing.T) {
	cases := [][]string{
		{},
		{"--domain", "example.com"},
		{"--name", "prod"},
	}
	for _, args := range cases {
		e := newEnv(t, nil)
		cmd := NewCmdInit(e.factory(), func(*InitOptions) error { t.Fatal("runF called"); return nil })
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		var fe *cmdutil.FlagError
		if err := cmd.Execute(); !errors.As(err, &fe) {
			t.Errorf("%v: err = %v, want a FlagError", args, err)
		}
	}
}

func TestInitRunFromFlags(t *testing.T) {
	e := newEnv(t, nil)
	o := &InitOptions{IO: e.io, selector: e.selector(), Name: "prod", Domain: "example.com",
		Hosts: []string{"node1.example.com,control-plane", "node2.example.com"}, Components: []string{"grafana"}}
	if err := initRun(o); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.home, "prod.yaml")
	want := "Wrote " + p + " (mode 0600)\nAdded k3s, prometheus, openbao to meet dependencies.\n"
	if e.stdout.String() != want {
		t.Fatalf("stdout %q\nwant   %q", e.stdout, want)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", fi, err)
	}
	if _, _, err := stackconfig.LoadValid(p); err != nil {
		t.Fatalf("written config is invalid: %v", err)
	}
	// A second init refuses to overwrite.
	err = initRun(&InitOptions{IO: e.io, selector: e.selector(), Name: "prod", Domain: "example.com", Hosts: []string{"n1.example.com"}})
	if !errors.Is(err, stackconfig.ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
}

func TestInitRunHonoursConfigFlag(t *testing.T) {
	e := newEnv(t, nil)
	e.flag = filepath.Join(t.TempDir(), "elsewhere.yaml")
	o := &InitOptions{IO: e.io, selector: e.selector(), Name: "prod", Domain: "example.com", Hosts: []string{"n1.example.com"}}
	if err := initRun(o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.flag); err != nil {
		t.Fatalf("--config path not used: %v", err)
	}
}

func TestInitRunBadHostFlag(t *testing.T) {
	e := newEnv(t, nil)
	o := &InitOptions{IO: e.io, selector: e.selector(), Name: "prod", Domain: "example.com", Hosts: []string{"n1,boss"}}
	var fe *cmdutil.FlagError
	if err := initRun(o); !errors.As(err, &fe) || !strings.Contains(err.Error(), `role "boss"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestInitRunWizardOnTTYReasksBadAnswers(t *testing.T) {
	e := newEnv(t, nil)
	e.io.SetTTY(true, true)
	e.in.WriteString(strings.Join([]string{
		"Bad Name",          // rejected
		"prod",              // name
		"Example.COM",       // domain, lower-cased
		"bad_host",          // rejected
		"node1.example.com", // host 1
		"node2.example.com,worker",
		"",                         // done with hosts
		"openbao,k3s,external-dns", // components
		"cloudflare",               // DNS provider
	}, "\n") + "\n")
	o := &InitOptions{IO: e.io, selector: e.selector(), Interactive: true}
	if err := initRun(o); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, e.stderr)
	}
	stderr := e.stderr.String()
	for _, want := range []string{"Cluster name", `cluster name "Bad Name"`, "try again", `"bad_host"`, "DNS provider"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	f, _, err := stackconfig.LoadValid(filepath.Join(e.home, "prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Config
	if c.Cluster.Domain != "example.com" || len(c.Cluster.Nodes) != 2 || c.Components.ExternalDNS.Provider != "cloudflare" {
		t.Fatalf("%+v", c)
	}
}

func TestInitRunWizardPipedFailsOnBadAnswer(t *testing.T) {
	e := newEnv(t, nil)
	e.in.WriteString("Bad Name\n")
	err := initRun(&InitOptions{IO: e.io, selector: e.selector(), Interactive: true})
	if err == nil || !strings.Contains(err.Error(), `cluster name "Bad Name"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestInitRunWizardPipedEOF(t *testing.T) {
	e := newEnv(t, nil)
	e.in.WriteString("prod\n")
	err := initRun(&InitOptions{IO: e.io, selector: e.selector(), Interactive: true})
	if !errors.Is(err, errWizardEOF) {
		t.Fatalf("err = %v", err)
	}
}

func TestInitRunWizardDefaultsComponents(t *testing.T) {
	e := newEnv(t, nil)
	e.in.WriteString("prod\nexample.com\nnode1.example.com\n\n\n")
	if err := initRun(&InitOptions{IO: e.io, selector: e.selector(), Interactive: true}); err != nil {
		t.Fatal(err)
	}
	f, _, err := stackconfig.LoadValid(filepath.Join(e.home, "prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Config.Components.Zot == nil || f.Config.Components.Grafana == nil {
		t.Fatalf("default components missing: %+v", f.Config.Components)
	}
}
