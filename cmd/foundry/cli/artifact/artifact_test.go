package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/shlex"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// listJSON runs `artifact list --json` and decodes it.
func listJSON(t *testing.T, connect func(context.Context) (*client.Client, error), component string) []messages.Artifact {
	t.Helper()
	ios, _, out, _ := cmdutil.Test()
	if err := listRun(context.Background(), &ListOptions{IO: ios, Connect: connect, Component: component, JSON: true}); err != nil {
		t.Fatalf("list: %v", err)
	}
	var listed []struct {
		messages.Artifact
		Imported string `json:"imported"` // RFC 3339 in CLI output
	}
	if err := json.Unmarshal(out.Bytes(), &listed); err != nil {
		t.Fatalf("list --json does not parse: %v\n%s", err, out.String())
	}
	arts := make([]messages.Artifact, len(listed))
	for i, a := range listed {
		if _, err := time.Parse(time.RFC3339, a.Imported); err != nil {
			t.Fatalf("imported is not RFC 3339: %q", a.Imported)
		}
		arts[i] = a.Artifact
	}
	return arts
}

// importedJSON is an imported artifact as --json prints it, its time in
// RFC 3339.
type importedJSON struct {
	imported
	Imported string `json:"imported"`
}

func TestImportFileThenList(t *testing.T) {
	c := ct.StartController(t)
	connect := ct.ConnectFunc(t, c)
	ctx := context.Background()
	data := bytes.Repeat([]byte("openbao binary "), 20000) // 300kB: several chunks
	p := filepath.Join(t.TempDir(), "bao")
	writeFile(t, p, data)

	ios, _, out, errOut := cmdutil.Test()
	if err := importRun(ctx, &ImportOptions{IO: ios, Connect: connect, Component: "openbao", Version: "2.1.0", Path: p}); err != nil {
		t.Fatalf("import: %v\n%s", err, errOut.String())
	}
	f := strings.Split(strings.TrimSpace(out.String()), "\t")
	if len(f) != 5 || f[0] != "openbao/2.1.0/bao" || f[1] != "300000" || f[2] != sum(data) || f[3] != sum(data) || f[4] == "" {
		t.Fatalf("piped import output %q", out.String())
	}

	arts := listJSON(t, connect, "")
	if len(arts) != 1 || !arts[0].Verified || arts[0].SHA256 != sum(data) || arts[0].Size != int64(len(data)) ||
		arts[0].File != "bao" || arts[0].KeyID != f[4] || arts[0].Problem != "" {
		t.Fatalf("list after import: %+v", arts)
	}

	// The table: piped rows carry the whole digest; a terminal gets 12
	// characters, a human size and a header.
	ios, _, out, _ = cmdutil.Test()
	if err := listRun(ctx, &ListOptions{IO: ios, Connect: connect}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "openbao\t2.1.0\tbao\t300000\t"+sum(data)+"\tyes\t") {
		t.Fatalf("piped list %q", out.String())
	}
	ios, _, out, _ = cmdutil.Test()
	ios.SetTTY(false, true)
	if err := listRun(ctx, &ListOptions{IO: ios, Connect: connect}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "COMPONENT VERSION FILE SIZE SHA256 VERIFIED IMPORTED" ||
		!strings.Contains(lines[1], "293.0KiB") || !strings.Contains(lines[1], " "+sum(data)[:12]+" ") || strings.Contains(lines[1], sum(data)[:13]) {
		t.Fatalf("terminal list:\n%s", out.String())
	}

	// Importing the same bytes again under another name (--name) and on a
	// terminal: progress on stderr, the block on stdout, the same digest.
	ios, _, out, errOut = cmdutil.Test()
	ios.SetTTY(false, true)
	if err := importRun(ctx, &ImportOptions{IO: ios, Connect: connect, Component: "openbao", Version: "2.1.0", Path: p, Name: "bao-linux-amd64"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "uploading openbao/2.1.0/bao-linux-amd64 293.0KiB / 293.0KiB") ||
		!strings.Contains(out.String(), "openbao/2.1.0/bao-linux-amd64  293.0KiB  signed by ") ||
		!strings.Contains(out.String(), "sha256 "+sum(data)+" (controller)") || !strings.Contains(out.String(), "sha256 "+sum(data)+" (local, matches)") {
		t.Fatalf("terminal import:\nstdout:\n%s\nstderr:\n%q", out.String(), errOut.String())
	}

	// Re-importing identical bytes is idempotent.
	ios, _, out, _ = cmdutil.Test()
	if err := importRun(ctx, &ImportOptions{IO: ios, Connect: connect, Component: "openbao", Version: "2.1.0", Path: p, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var res []importedJSON
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res) != 1 || res[0].SHA256 != sum(data) || res[0].LocalSHA256 != sum(data) || !res[0].Verified {
		t.Fatalf("import --json: %v\n%s", err, out.String())
	}
	arts = listJSON(t, connect, "openbao")
	if len(arts) != 2 || arts[0].File != "bao" || arts[1].File != "bao-linux-amd64" || !arts[0].Verified || !arts[1].Verified || arts[0].SHA256 != arts[1].SHA256 {
		t.Fatalf("list after re-import: %+v", arts)
	}
	if got := listJSON(t, connect, "registry"); len(got) != 0 {
		t.Fatalf("--component filter: %+v", got)
	}
}

func TestImportDirectory(t *testing.T) {
	c := ct.StartController(t)
	connect := ct.ConnectFunc(t, c)
	dir := t.TempDir()
	a, b := []byte("first file"), []byte("second file, longer")
	writeFile(t, filepath.Join(dir, "registry"), a)
	writeFile(t, filepath.Join(dir, "registry.sha256"), b)
	writeFile(t, filepath.Join(dir, ".hidden"), []byte("skipped"))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "nested"), []byte("not recursive"))

	ios, _, out, errOut := cmdutil.Test()
	if err := importRun(context.Background(), &ImportOptions{IO: ios, Connect: connect, Component: "registry", Version: "3.0.0-rc.1", Path: dir, JSON: true}); err != nil {
		t.Fatalf("import dir: %v\n%s", err, errOut.String())
	}
	var res []importedJSON
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res) != 2 {
		t.Fatalf("import dir --json: %v\n%s", err, out.String())
	}
	arts := listJSON(t, connect, "registry")
	if len(arts) != 2 || arts[0].File != "registry" || arts[0].SHA256 != sum(a) || arts[1].File != "registry.sha256" || arts[1].SHA256 != sum(b) ||
		!arts[0].Verified || !arts[1].Verified || arts[0].Version != "3.0.0-rc.1" {
		t.Fatalf("list after dir import: %+v", arts)
	}

	// A symlink inside the directory to a file inside it is imported; one
	// that leaves the directory refuses the whole import before uploading.
	if err := os.Symlink(filepath.Join(dir, "registry"), filepath.Join(dir, "latest")); err != nil {
		t.Fatal(err)
	}
	files, err := planImport(&ImportOptions{Component: "registry", Version: "3", Path: dir})
	if err != nil || len(files) != 3 {
		t.Fatalf("plan with an inside symlink: %v %+v", err, files)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	writeFile(t, outside, []byte("not for the store"))
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ = cmdutil.Test()
	err = importRun(context.Background(), &ImportOptions{IO: ios, Connect: noConnect(t), Component: "registry", Version: "4", Path: dir})
	if err == nil || !strings.Contains(err.Error(), "is a symlink to "+outside+" outside") {
		t.Fatalf("escaping symlink: %v", err)
	}
}

// noConnect fails the test if a verb reaches the controller.
func noConnect(t *testing.T) func(context.Context) (*client.Client, error) {
	return func(context.Context) (*client.Client, error) {
		t.Error("connected to the controller although the input was refused")
		return nil, errors.New("no")
	}
}

func TestImportRefusesBadInputBeforeUpload(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "bin")
	writeFile(t, good, []byte("x"))
	badName := filepath.Join(dir, "bad name")
	writeFile(t, badName, []byte("x"))
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, nil)
	big := filepath.Join(t.TempDir(), "big")
	writeFile(t, big, nil)
	if err := os.Truncate(big, messages.MaxArtifactBytes+1); err != nil { // sparse
		t.Fatal(err)
	}
	emptyDir := t.TempDir()
	writeFile(t, filepath.Join(emptyDir, ".only-hidden"), []byte("x"))

	cases := []struct {
		name string
		o    ImportOptions
		want string
		flag bool
	}{
		{"component", ImportOptions{Component: "Open_Bao", Version: "1", Path: good}, `component name "Open_Bao"`, true},
		{"version", ImportOptions{Component: "openbao", Version: "../1", Path: good}, `version "../1"`, true},
		{"--name", ImportOptions{Component: "openbao", Version: "1", Path: good, Name: "a/b"}, `--name: file name "a/b"`, true},
		{"file name", ImportOptions{Component: "openbao", Version: "1", Path: badName}, "pass --name", false},
		{"name with dir", ImportOptions{Component: "openbao", Version: "1", Path: dir, Name: "x"}, "--name renames a single file", true},
		{"bad name in dir", ImportOptions{Component: "openbao", Version: "1", Path: dir}, "rename it or import it alone with --name", false},
		{"too big", ImportOptions{Component: "openbao", Version: "1", Path: big}, "over the 512.0MiB limit", false},
		{"empty", ImportOptions{Component: "openbao", Version: "1", Path: empty}, "is empty", false},
		{"missing", ImportOptions{Component: "openbao", Version: "1", Path: filepath.Join(dir, "nope")}, "pass an existing file or directory", false},
		{"empty dir", ImportOptions{Component: "openbao", Version: "1", Path: emptyDir}, "holds no regular files", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			o := tc.o
			o.IO, o.Connect = ios, noConnect(t)
			err := importRun(context.Background(), &o)
			var fe *cmdutil.FlagError
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &fe) != tc.flag {
				t.Fatalf("got %v (flag error %v), want %q", err, errors.As(err, &fe), tc.want)
			}
		})
	}
}

func TestCommandArgs(t *testing.T) {
	cases := []struct {
		args, want string
	}{
		{"openbao 2.1.0 ./bao --name bao --json", ""},
		{"openbao 2.1.0", "accepts 3 arg(s)"},
	}
	for _, tc := range cases {
		ios, _, _, _ := cmdutil.Test()
		var got *ImportOptions
		cmd := NewCmdImport(&cmdutil.Factory{IO: ios}, func(_ context.Context, o *ImportOptions) error { got = o; return nil })
		args, _ := shlex.Split(tc.args)
		cmd.SetArgs(args)
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		err := cmd.Execute()
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: got %v, want %q", tc.args, err, tc.want)
			}
			continue
		}
		if err != nil || got.Component != "openbao" || got.Version != "2.1.0" || got.Path != "./bao" || got.Name != "bao" || !got.JSON {
			t.Fatalf("%s: %v %+v", tc.args, err, got)
		}
	}
}

func TestReadOnlyOperatorListsButCannotImport(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	p := filepath.Join(t.TempDir(), "bin")
	writeFile(t, p, []byte("payload"))
	ios, _, _, _ := cmdutil.Test()
	if err := importRun(context.Background(), &ImportOptions{IO: ios, Connect: ct.ConnectFunc(t, c), Component: "web", Version: "1", Path: p}); err != nil {
		t.Fatal(err)
	}

	creds := ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly)
	ca := ct.WriteCA(t, c)
	viewer := func(ctx context.Context) (*client.Client, error) {
		return client.Connect(ctx, client.Options{URL: c.URLs()[0], CredsFile: creds, CAFile: ca})
	}
	if arts := listJSON(t, viewer, ""); len(arts) != 1 || !arts[0].Verified {
		t.Fatalf("read-only list: %+v", arts)
	}

	start := time.Now()
	ios, _, _, _ = cmdutil.Test()
	err := importRun(context.Background(), &ImportOptions{IO: ios, Connect: viewer, Component: "web", Version: "2", Path: p})
	if err == nil || !strings.Contains(err.Error(), "your operator role may not upload artifacts; ask an admin") {
		t.Fatalf("read-only import: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the refusal took %s: it waited for a timeout instead of the server's answer", d)
	}
	// Nor may it ask the controller to sign what an admin uploaded.
	cl, err := viewer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.ImportArtifact(context.Background(), messages.ArtifactImportRequest{Component: "web", Version: "1", Files: []string{"bin"}}); err == nil ||
		!strings.Contains(err.Error(), "may not call "+messages.APIArtifactImport) {
		t.Fatalf("read-only sign request: %v", err)
	}
	if arts := listJSON(t, viewer, ""); len(arts) != 1 || arts[0].Version != "1" {
		t.Fatalf("the refused import changed the store: %+v", arts)
	}
}

// Bytes replaced after import, even with the signed metadata copied over,
// list as not verified. Operators have no JetStream access, so the
// tampering goes through the controller's own connection (someone with
// the controller's storage); the check it must trip is the controller's.
func TestTamperedArtifactListsUnverified(t *testing.T) {
	c := ct.StartController(t)
	connect := ct.ConnectFunc(t, c)
	ctx := context.Background()
	orig := []byte("genuine build 0001")
	p := filepath.Join(t.TempDir(), "app")
	writeFile(t, p, orig)
	ios, _, _, _ := cmdutil.Test()
	if err := importRun(ctx, &ImportOptions{IO: ios, Connect: connect, Component: "app", Version: "1.0", Path: p}); err != nil {
		t.Fatal(err)
	}

	obs, err := c.JetStream().ObjectStore(ctx, messages.ArtifactBucket)
	if err != nil {
		t.Fatal(err)
	}
	name := messages.ArtifactObjectName("app", "1.0", "app")
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata[messages.ArtifactMetaSig] == "" {
		t.Fatalf("import left no signature in the metadata: %+v", info.Metadata)
	}
	evil := []byte("trojan build 0001!") // same length
	if _, err := obs.Put(ctx, info.ObjectMeta, bytes.NewReader(evil)); err != nil {
		t.Fatal(err)
	}
	if after, err := obs.GetInfo(ctx, name); err != nil || after.Metadata[messages.ArtifactMetaSHA256] != sum(orig) {
		t.Fatalf("the tampering did not keep the signed metadata: %v %+v", err, after)
	}

	arts := listJSON(t, connect, "")
	if len(arts) != 1 || arts[0].Verified || arts[0].SHA256 != sum(orig) || !strings.Contains(arts[0].Problem, "stored bytes differ from the signed ones") {
		t.Fatalf("list after tampering: %+v", arts)
	}
	ios, _, out, _ := cmdutil.Test()
	if err := listRun(ctx, &ListOptions{IO: ios, Connect: connect}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\tno: stored bytes differ from the signed ones; re-import the artifact\t") {
		t.Fatalf("piped list after tampering %q", out.String())
	}

	// Re-importing uploads the CLI's own copy first, through the
	// controller, so the store is back to the genuine bytes.
	ios, _, _, _ = cmdutil.Test()
	if err := importRun(ctx, &ImportOptions{IO: ios, Connect: connect, Component: "app", Version: "1.0", Path: p}); err != nil {
		t.Fatal(err)
	}
	if arts := listJSON(t, connect, ""); len(arts) != 1 || !arts[0].Verified || arts[0].SHA256 != sum(orig) {
		t.Fatalf("list after re-import: %+v", arts)
	}
}
