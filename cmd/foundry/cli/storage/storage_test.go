package storage

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	double "github.com/foundry-fleet/foundry/e2e/doubles/truenas"
)

const (
	rwKey = "1-readwrite-key"
	roKey = "2-readonly-key"
)

const baseConfig = `version: "1.0"
cluster:
  name: prod
  domain: example.com
  nodes:
    - hostname: node1.example.com
      role: control-plane
`

// fixture is a TrueNAS test double served over TLS, a CA file that
// trusts it, a stack config, and an API key the resolver finds in the
// (fake) environment.
type fixture struct {
	nas    *double.Server
	url    string
	ca     string
	config string
	env    map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	nas := double.Sample()
	nas.AddKey(rwKey, double.ReadWrite)
	nas.AddKey(roKey, double.ReadOnly)
	ts := httptest.NewTLSServer(nas.Handler())
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "truenas-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "prod.yaml")
	if err := os.WriteFile(cfg, []byte(baseConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return &fixture{nas: nas, url: ts.URL, ca: ca, config: cfg, env: map[string]string{}}
}

// setKey makes the default reference resolve to key.
func (f *fixture) setKey(key string) {
	ref, _ := secrets.ParseRef(DefaultAPIKeyRef)
	f.env[secrets.EnvName(ref)] = key
}

func (f *fixture) deps() Deps {
	return Deps{
		ConfigPath: func() (string, error) { return f.config, nil },
		Resolver: func(context.Context, *stackconfig.Config) (*secrets.Resolver, error) {
			look := func(k string) (string, bool) { v, ok := f.env[k]; return v, ok }
			return &secrets.Resolver{Sources: []secrets.Source{secrets.EnvSource{LookupEnv: look}}}, nil
		},
	}
}

func (f *fixture) section(t *testing.T) *stackconfig.TrueNAS {
	t.Helper()
	file, err := stackconfig.Load(f.config)
	if err != nil {
		t.Fatal(err)
	}
	if file.Config.Storage == nil {
		return nil
	}
	return file.Config.Storage.TrueNAS
}

// configured writes storage.truenas for the double directly.
func (f *fixture) configured(t *testing.T) {
	t.Helper()
	if _, err := stackconfig.SetTrueNAS(f.config, stackconfig.TrueNAS{APIURL: f.url, APIKey: DefaultAPIKeyRef, CAFile: f.ca}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigureAgainstTrueNASDoubleWritesTheSection(t *testing.T) {
	f := newFixture(t)
	f.setKey(rwKey)
	io, _, out, errOut := cmdutil.Test()
	o := &ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url, CAFile: f.ca, Dataset: "tank/foundry"}
	if err := configureRun(o); err != nil {
		t.Fatalf("configure: %v\n%s%s", err, out, errOut)
	}
	want := stackconfig.TrueNAS{APIURL: f.url, APIKey: DefaultAPIKeyRef, CAFile: f.ca, Dataset: "tank/foundry"}
	if got := f.section(t); got == nil || *got != want {
		t.Fatalf("storage.truenas = %+v, want %+v", got, want)
	}
	for _, line := range []string{"reachability\tok\t", "tls\tok\t", "authentication\tok\t", "permissions\tskipped\t"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("check output lacks %q:\n%s", line, out)
		}
	}
	if strings.Contains(out.String()+errOut.String(), rwKey) {
		t.Fatal("the API key was printed")
	}
	if f.nas.Writes() != 0 {
		t.Fatalf("configure wrote %d datasets; its check must only read", f.nas.Writes())
	}

	// Again, with only the URL: the rest is kept and nothing changes.
	io, _, _, errOut = cmdutil.Test()
	before, _ := os.ReadFile(f.config)
	if err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(f.config)
	if string(before) != string(after) || !strings.Contains(errOut.String(), "already up to date") {
		t.Fatalf("re-run changed the file or did not say so: %s", errOut)
	}
}

func TestConfigureInteractiveAsksForEachSetting(t *testing.T) {
	f := newFixture(t)
	f.setKey(rwKey)
	io, in, _, errOut := cmdutil.Test()
	in.WriteString(f.url + "\n\n" + f.ca + "\n-\n")
	if err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), Interactive: true}); err != nil {
		t.Fatalf("configure --interactive: %v\n%s", err, errOut)
	}
	for _, prompt := range []string{"TrueNAS URL: ", "API key secret reference [" + DefaultAPIKeyRef + "]: ", "CA file", "Parent dataset"} {
		if !strings.Contains(errOut.String(), prompt) {
			t.Errorf("no prompt %q in:\n%s", prompt, errOut)
		}
	}
	want := stackconfig.TrueNAS{APIURL: f.url, APIKey: DefaultAPIKeyRef, CAFile: f.ca}
	if got := f.section(t); got == nil || *got != want {
		t.Fatalf("storage.truenas = %+v, want %+v", got, want)
	}
}

func TestConfigureInteractivePipedBadAnswerFailsAtOnce(t *testing.T) {
	f := newFixture(t)
	io, in, _, _ := cmdutil.Test()
	in.WriteString("truenas.example.com\n")
	err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), Interactive: true})
	if err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Fatalf("err = %v", err)
	}
	if f.section(t) != nil {
		t.Fatal("a failed wizard wrote the section")
	}
}

func TestConfigureWrongKeyFailsAtAuthenticationAndWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.setKey("3-wrong-key")
	io, _, out, _ := cmdutil.Test()
	err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url, CAFile: f.ca})
	if err == nil || !strings.Contains(err.Error(), "failed at authentication") || !strings.Contains(err.Error(), "refused the API key") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "authentication\tfail\t") {
		t.Fatalf("steps:\n%s", out)
	}
	if f.section(t) != nil {
		t.Fatal("a failed check wrote the section")
	}
}

func TestConfigureUntrustedCertificateFailsAtTLS(t *testing.T) {
	f := newFixture(t)
	f.setKey(rwKey)
	io, _, _, _ := cmdutil.Test()
	err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url})
	if err == nil || !strings.Contains(err.Error(), "failed at tls") || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("err = %v", err)
	}
	if f.section(t) != nil {
		t.Fatal("a failed check wrote the section")
	}
}

func TestConfigureUnresolvedKeySaysWhereToStoreIt(t *testing.T) {
	f := newFixture(t)
	io, _, _, _ := cmdutil.Test()
	err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url, CAFile: f.ca})
	if !errors.Is(err, secrets.ErrNotFound) || !strings.Contains(err.Error(), "foundry secret set foundry/truenas --key api_key") {
		t.Fatalf("err = %v", err)
	}
	// --no-check writes anyway (the key can be stored afterwards).
	if err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url, CAFile: f.ca, NoCheck: true}); err != nil {
		t.Fatal(err)
	}
	if f.section(t) == nil {
		t.Fatal("--no-check did not write")
	}
}

func TestConfigureRefusesAKeyValueInsteadOfAReference(t *testing.T) {
	f := newFixture(t)
	io, _, _, _ := cmdutil.Test()
	err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url, APIKeyRef: "1-abcdef"})
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "never the key itself") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigureDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.setKey(rwKey)
	io, _, out, _ := cmdutil.Test()
	if err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url, CAFile: f.ca, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "    api_url: "+f.url+"\n") || f.section(t) != nil {
		t.Fatalf("dry run output:\n%s", out)
	}
}

func TestConfigureReplacingNeedsYesWhenPiped(t *testing.T) {
	f := newFixture(t)
	f.setKey(rwKey)
	f.configured(t)
	io, _, _, _ := cmdutil.Test()
	err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url, Dataset: "tank/media"})
	if !errors.Is(err, cmdutil.ErrNeedYes) {
		t.Fatalf("err = %v", err)
	}
	if err := configureRun(&ConfigureOptions{IO: io, Deps: f.deps(), URL: f.url, Dataset: "tank/media", Yes: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.section(t); got.Dataset != "tank/media" || got.CAFile != f.ca {
		t.Fatalf("section = %+v", got)
	}
}

func TestListAgainstTrueNASDouble(t *testing.T) {
	f := newFixture(t)
	f.setKey(roKey) // listing needs only read access
	f.configured(t)
	io, _, out, _ := cmdutil.Test()
	if err := listRun(&ListOptions{IO: io, Deps: f.deps()}); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"pool\ttank\t100.0GiB\t924.0GiB\t1.0TiB\tONLINE\n" +
		"dataset\ttank\t100.0GiB\t924.0GiB\t-\t/mnt/tank\n" +
		"dataset\ttank/foundry\t1.0MiB\t924.0GiB\t-\t/mnt/tank/foundry\n" +
		"dataset\ttank/media\t60.0GiB\t924.0GiB\t-\t/mnt/tank/media\n" +
		"zvol\ttank/vm-disk\t20.0GiB\t924.0GiB\t20.0GiB\t-\n" +
		"nfs-share\t/mnt/tank/media\t-\t-\t-\tread-write, for 10.77.0.0/24\n"
	if out.String() != want {
		t.Fatalf("list:\n%s\nwant:\n%s", out, want)
	}

	io, _, out, _ = cmdutil.Test()
	if err := listRun(&ListOptions{IO: io, Deps: f.deps(), JSON: true}); err != nil {
		t.Fatal(err)
	}
	var inv Inventory
	if err := json.Unmarshal(out.Bytes(), &inv); err != nil {
		t.Fatal(err)
	}
	if len(inv.Pools) != 1 || inv.Pools[0].Free != 924<<30 || len(inv.Datasets) != 3 || len(inv.Zvols) != 1 ||
		inv.Zvols[0].Size != 20<<30 || len(inv.NFSShares) != 1 || inv.APIURL != f.url {
		t.Fatalf("inventory = %+v", inv)
	}
}

func TestListWithoutTrueNASSaysToConfigure(t *testing.T) {
	f := newFixture(t)
	io, _, _, _ := cmdutil.Test()
	err := listRun(&ListOptions{IO: io, Deps: f.deps()})
	if !errors.Is(err, errNotConfigured) || !strings.Contains(err.Error(), "foundry storage configure") {
		t.Fatalf("err = %v", err)
	}
}

func TestStorageTestAgainstTrueNASDoublePasses(t *testing.T) {
	f := newFixture(t)
	f.setKey(rwKey)
	f.configured(t)
	before := f.nas.Datasets()
	io, _, out, _ := cmdutil.Test()
	if err := testRun(&TestOptions{IO: io, Deps: f.deps()}); err != nil {
		t.Fatalf("storage test: %v\n%s", err, out)
	}
	for _, line := range []string{"reachability\tok\t", "tls\tok\t", "authentication\tok\t", "permissions\tok\tcreated and deleted dataset tank/foundry-check-"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	if after := f.nas.Datasets(); strings.Join(after, ",") != strings.Join(before, ",") || f.nas.Writes() != 2 {
		t.Fatalf("datasets %v -> %v, writes %d", before, after, f.nas.Writes())
	}
}

func TestStorageTestWrongKeyFailsAtAuthentication(t *testing.T) {
	f := newFixture(t)
	f.setKey("3-wrong-key")
	f.configured(t)
	io, _, out, _ := cmdutil.Test()
	err := testRun(&TestOptions{IO: io, Deps: f.deps(), JSON: true})
	if err == nil || !strings.Contains(err.Error(), "storage test failed at authentication: TrueNAS refused the API key") {
		t.Fatalf("err = %v", err)
	}
	var res testResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Steps[2].Status != "fail" || res.Steps[3].Status != "not run" || res.APIKey.Source != "environment" {
		t.Fatalf("result = %+v", res)
	}
}

func TestStorageTestReadOnlyKeyFailsAtPermissions(t *testing.T) {
	f := newFixture(t)
	f.setKey(roKey)
	f.configured(t)
	before := f.nas.Datasets()
	io, _, out, _ := cmdutil.Test()
	err := testRun(&TestOptions{IO: io, Deps: f.deps()})
	if err == nil || !strings.Contains(err.Error(), "storage test failed at permissions: the API key cannot create datasets under tank (HTTP 403)") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "authentication\tok\t") || !strings.Contains(out.String(), "permissions\tfail\t") {
		t.Fatalf("steps:\n%s", out)
	}
	if after := f.nas.Datasets(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("datasets changed: %v -> %v", before, after)
	}
}

func TestStorageTestUntrustedCertificateFailsAtTLS(t *testing.T) {
	f := newFixture(t)
	f.setKey(rwKey)
	if _, err := stackconfig.SetTrueNAS(f.config, stackconfig.TrueNAS{APIURL: f.url, APIKey: DefaultAPIKeyRef}); err != nil {
		t.Fatal(err)
	}
	io, _, _, _ := cmdutil.Test()
	err := testRun(&TestOptions{IO: io, Deps: f.deps()})
	if err == nil || !strings.Contains(err.Error(), "storage test failed at tls: the certificate is not trusted") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewCmdConfigureParsesFlags(t *testing.T) {
	io, _, _, _ := cmdutil.Test()
	var got *ConfigureOptions
	cmd := NewCmdConfigure(&cmdutil.Factory{IO: io, Home: func() (string, error) { return t.TempDir(), nil }}, func(o *ConfigureOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--url", "https://nas", "--api-key", "${secret:x/y:z}", "--ca-file", "/ca.pem", "--dataset", "tank/f", "-i", "--dry-run", "--yes", "--no-check"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.URL != "https://nas" || got.APIKeyRef != "${secret:x/y:z}" || got.CAFile != "/ca.pem" || got.Dataset != "tank/f" ||
		!got.Interactive || !got.DryRun || !got.Yes || !got.NoCheck {
		t.Fatalf("options = %+v", got)
	}
}

func TestNewCmdListAndTestParseJSON(t *testing.T) {
	io, _, _, _ := cmdutil.Test()
	fac := &cmdutil.Factory{IO: io, Home: func() (string, error) { return t.TempDir(), nil }}
	var lo *ListOptions
	l := NewCmdList(fac, func(o *ListOptions) error { lo = o; return nil })
	l.SetArgs([]string{"--json"})
	var to *TestOptions
	tc := NewCmdTest(fac, func(o *TestOptions) error { to = o; return nil })
	tc.SetArgs([]string{"--json"})
	if err := l.Execute(); err != nil {
		t.Fatal(err)
	}
	if err := tc.Execute(); err != nil {
		t.Fatal(err)
	}
	if !lo.JSON || !to.JSON {
		t.Fatalf("json flags: list %v test %v", lo.JSON, to.JSON)
	}
}
