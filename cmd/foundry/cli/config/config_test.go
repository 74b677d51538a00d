package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

const validConfig = `version: "1.0"
cluster:
  name: prod
  domain: example.com
  nodes:
    - hostname: node1.example.com
      role: control-plane
components:
  openbao:
    hosts: [node1.example.com]
  k3s: {}
  prometheus: {}
  grafana:
    admin_password: ${secret:foundry/grafana:admin_password}
storage:
  truenas:
    api_url: https://truenas.example.com
    api_key: inline-key-value
`

type env struct {
	home               string
	io                 *cmdutil.IOStreams
	in, stdout, stderr *bytes.Buffer
	flag               string
	vars               map[string]string
}

func newEnv(t *testing.T, files map[string]string) *env {
	t.Helper()
	home := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(home, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ios, in, out, errOut := cmdutil.Test()
	return &env{home: home, io: ios, in: in, stdout: out, stderr: errOut, vars: map[string]string{}}
}

func (e *env) factory() *cmdutil.Factory {
	return &cmdutil.Factory{
		IO:         e.io,
		Home:       func() (string, error) { return e.home, nil },
		ConfigPath: func() string { return e.flag },
	}
}

func (e *env) selector() selector {
	s := newSelector(e.factory())
	s.Getenv = func(k string) string { return e.vars[k] }
	return s
}

func TestValidateRunPrintsEveryProblemAndFails(t *testing.T) {
	bad := strings.Replace(validConfig, `version: "1.0"`, `version: "2"`, 1)
	bad = strings.Replace(bad, "role: control-plane", "role: boss", 1)
	e := newEnv(t, map[string]string{"prod.yaml": bad})
	err := validateRun(&ValidateOptions{IO: e.io, selector: e.selector()})
	if !errors.Is(err, cmdutil.ErrSilent) {
		t.Fatalf("err = %v, want ErrSilent (exit non-zero)", err)
	}
	p := filepath.Join(e.home, "prod.yaml")
	want := p + `:1:10: version "2" is not supported; set version: "1.0" (the only format this Foundry reads)` + "\n" +
		p + ":6:5: k3s is configured but no node has role control-plane; set role: control-plane on at least one node\n" +
		p + `:7:13: cluster.nodes[0].role "boss" is not a role; use control-plane or worker` + "\n"
	if e.stdout.String() != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", e.stdout, want)
	}
	if !strings.Contains(e.stderr.String(), "3 errors, 0 warnings") {
		t.Fatalf("stderr: %s", e.stderr)
	}
}

func TestValidateRunValidConfig(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": validConfig})
	if err := validateRun(&ValidateOptions{IO: e.io, selector: e.selector()}); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(e.home, "prod.yaml") + ": valid\n"; e.stdout.String() != want {
		t.Fatalf("stdout %q, want %q", e.stdout, want)
	}
}

func TestValidateRunWarnsAboutWorldReadableInlineSecret(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": validConfig})
	p := filepath.Join(e.home, "prod.yaml")
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := validateRun(&ValidateOptions{IO: e.io, selector: e.selector()}); err != nil {
		t.Fatalf("warnings must not fail validate: %v", err)
	}
	out := e.stdout.String()
	if !strings.Contains(out, p+":18:14: warning: storage.truenas.api_key looks like an inline secret") ||
		!strings.Contains(out, "chmod 600") || strings.Contains(out, "inline-key-value") {
		t.Fatalf("stdout:\n%s", out)
	}
}

func TestValidateRunSyntaxError(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": "cluster:\n\tname: x\n"})
	err := validateRun(&ValidateOptions{IO: e.io, selector: e.selector()})
	if !errors.Is(err, cmdutil.ErrSilent) || !strings.Contains(e.stdout.String(), ":2: invalid YAML") {
		t.Fatalf("err %v stdout %s", err, e.stdout)
	}
}

func TestValidateRunJSON(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": strings.Replace(validConfig, `"1.0"`, `"9"`, 1)})
	err := validateRun(&ValidateOptions{IO: e.io, selector: e.selector(), JSON: true})
	if !errors.Is(err, cmdutil.ErrSilent) {
		t.Fatalf("err = %v", err)
	}
	var got validateJSON
	if err := json.Unmarshal(e.stdout.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, e.stdout)
	}
	if got.Valid || len(got.Errors) != 1 || got.Errors[0].Line != 1 || got.Errors[0].Col != 10 {
		t.Fatalf("%+v", got)
	}
}

func TestValidateRunSelectionErrors(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": validConfig, "staging.yaml": validConfig})
	err := validateRun(&ValidateOptions{IO: e.io, selector: e.selector()})
	if !errors.Is(err, stackconfig.ErrAmbiguousConfig) || !strings.Contains(err.Error(), "prod, staging") {
		t.Fatalf("err = %v", err)
	}
	e.vars[stackconfig.EnvConfig] = "staging"
	e.flag = "prod"
	if err := validateRun(&ValidateOptions{IO: e.io, selector: e.selector()}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.stdout.String(), filepath.Join(e.home, "prod.yaml")) {
		t.Fatalf("--config must beat FOUNDRY_CONFIG: %s", e.stdout)
	}
	empty := newEnv(t, nil)
	err = validateRun(&ValidateOptions{IO: empty.io, selector: empty.selector()})
	if !errors.Is(err, stackconfig.ErrNoConfig) || !strings.Contains(err.Error(), "foundry config init") {
		t.Fatalf("err = %v", err)
	}
}

func TestShowRunRedacts(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": validConfig})
	if err := showRun(&ShowOptions{IO: e.io, selector: e.selector()}); err != nil {
		t.Fatal(err)
	}
	out := e.stdout.String()
	for _, want := range []string{
		"admin_password: ${secret:foundry/grafana:admin_password}",
		"api_key: <redacted>",
		"ssh_keys: openbao",
		"address: https://node1.example.com:8200",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "inline-key-value") {
		t.Fatalf("show leaks the inline secret:\n%s", out)
	}
}

func TestShowRunJSON(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": validConfig})
	if err := showRun(&ShowOptions{IO: e.io, selector: e.selector(), JSON: true}); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(e.stdout.Bytes(), &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if v["storage"].(map[string]any)["truenas"].(map[string]any)["api_key"] != "<redacted>" {
		t.Fatalf("%v", v["storage"])
	}
}

func TestShowRunWarnsWhenInvalid(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": strings.Replace(validConfig, `"1.0"`, `"9"`, 1)})
	if err := showRun(&ShowOptions{IO: e.io, selector: e.selector()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.stderr.String(), "has 1 error; run `foundry config validate`") {
		t.Fatalf("stderr: %s", e.stderr)
	}
}

func TestListRunMarksSelected(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": validConfig, "staging.yaml": validConfig, "notes.txt": "x"})
	e.vars[stackconfig.EnvConfig] = "staging"
	e.io.SetTTY(false, false)
	if err := listRun(&ListOptions{IO: e.io, selector: e.selector()}); err != nil {
		t.Fatal(err)
	}
	want := "prod\t" + filepath.Join(e.home, "prod.yaml") + "\t\n" +
		"staging\t" + filepath.Join(e.home, "staging.yaml") + "\t* (FOUNDRY_CONFIG)\n"
	if e.stdout.String() != want {
		t.Fatalf("stdout:\n%q\nwant:\n%q", e.stdout, want)
	}
}

func TestListRunTTYTableAndNoSelection(t *testing.T) {
	e := newEnv(t, map[string]string{"a.yaml": validConfig, "b.yaml": validConfig})
	e.io.SetTTY(true, true)
	if err := listRun(&ListOptions{IO: e.io, selector: e.selector()}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(e.stdout.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "SELECTED") {
		t.Fatalf("table:\n%s", e.stdout)
	}
	if !strings.Contains(e.stderr.String(), "None selected") {
		t.Fatalf("stderr: %s", e.stderr)
	}
}

func TestListRunJSONAndEmpty(t *testing.T) {
	e := newEnv(t, map[string]string{"prod.yaml": validConfig})
	if err := listRun(&ListOptions{IO: e.io, selector: e.selector(), JSON: true}); err != nil {
		t.Fatal(err)
	}
	var got []listEntry
	if err := json.Unmarshal(e.stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Selected || !strings.Contains(got[0].Reason, "only config") {
		t.Fatalf("%+v", got)
	}
	empty := newEnv(t, nil)
	empty.io.SetTTY(false, true)
	if err := listRun(&ListOptions{IO: empty.io, selector: empty.selector()}); err != nil {
		t.Fatalf("no configs must exit 0: %v", err)
	}
	if !strings.Contains(empty.stderr.String(), "foundry config init") {
		t.Fatalf("stderr: %s", empty.stderr)
	}
}

func TestVerbFlagsParse(t *testing.T) {
	e := newEnv(t, nil)
	var v *ValidateOptions
	cmd := NewCmdValidate(e.factory(), func(o *ValidateOptions) error { v = o; return nil })
	cmd.SetArgs([]string{"--json"})
	if err := cmd.Execute(); err != nil || !v.JSON {
		t.Fatalf("validate: %v %+v", err, v)
	}
	var s *ShowOptions
	cmd = NewCmdShow(e.factory(), func(o *ShowOptions) error { s = o; return nil })
	cmd.SetArgs([]string{"--json"})
	if err := cmd.Execute(); err != nil || !s.JSON {
		t.Fatalf("show: %v %+v", err, s)
	}
	var l *ListOptions
	cmd = NewCmdList(e.factory(), func(o *ListOptions) error { l = o; return nil })
	cmd.SetArgs([]string{"--json"})
	if err := cmd.Execute(); err != nil || !l.JSON {
		t.Fatalf("list: %v %+v", err, l)
	}
	cmd = NewCmdList(e.factory(), func(*ListOptions) error { return nil })
	cmd.SetArgs([]string{"extra"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil {
		t.Fatal("list accepted an argument")
	}
}
