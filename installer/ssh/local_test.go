package ssh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalRun(t *testing.T) {
	l := NewLocal(LocalOptions{})
	defer l.Close()
	ctx := context.Background()
	res, err := l.Run(ctx, Command{Line: "printf '%s' \"$0\"; cat", Stdin: strings.NewReader("in")})
	if err != nil || res.Stdout != "shin" {
		t.Errorf("Run = %+v, %v; want sh to run the line with stdin", res, err)
	}
	_, err = l.Run(ctx, Command{Line: "echo bad >&2; exit 42"})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 42 || ee.Stderr != "bad\n" || ee.Host != "localhost" {
		t.Errorf("err = %#v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := l.Run(cctx, Command{Line: "sleep 30"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

func TestLocalSudoAsRootRunsDirectly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: as another user this would ask sudo")
	}
	l := NewLocal(LocalOptions{})
	defer l.Close()
	res, err := l.Run(context.Background(), Command{Line: "id -u", Sudo: true})
	if err != nil || res.Stdout != "0\n" {
		t.Errorf("Run = %+v, %v", res, err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestLocalStdinReadErrorIsReported(t *testing.T) {
	l := NewLocal(LocalOptions{})
	defer l.Close()
	boom := errors.New("disk on fire")
	_, err := l.Run(context.Background(), Command{Line: "cat >/dev/null", Stdin: &failingReader{data: []byte("abc"), err: boom}})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the reader's error", err)
	}
}

func TestUploadLocal(t *testing.T) {
	l := NewLocal(LocalOptions{})
	defer l.Close()
	ctx := context.Background()
	dir := t.TempDir()
	dst := filepath.Join(dir, "agent")
	content := bytes.Repeat([]byte("foundry\x00\n'"), 50000)
	if err := Upload(ctx, l, dst, 0o755, "", bytes.NewReader(content), false); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if sha256.Sum256(got) != sha256.Sum256(content) {
		t.Error("content differs")
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", st.Mode())
	}

	// replace: atomic rename over the old file
	if err := Upload(ctx, l, dst, 0o600, "", strings.NewReader("v2"), false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "v2" {
		t.Errorf("after replace: %q", got)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Errorf("mode after replace %v", st.Mode())
	}

	// a reader failing half-way leaves dst as it was and no temp file behind
	err := Upload(ctx, l, dst, 0o644, "", &failingReader{data: []byte("partial"), err: errors.New("cut")}, false)
	if err == nil {
		t.Fatal("upload with a failing reader succeeded")
	}
	if got, _ := os.ReadFile(dst); string(got) != "v2" {
		t.Errorf("dst changed to %q", got)
	}
	assertNoTempFiles(t, dir)

	// a directory in the way is not silently written into
	sub := filepath.Join(dir, "sub")
	_ = os.Mkdir(sub, 0o755)
	if err := Upload(ctx, l, sub, 0o644, "", strings.NewReader("x"), false); err == nil {
		t.Error("upload onto a directory succeeded")
	}
	assertNoTempFiles(t, dir)
}

func TestUploadOwnerAndSetuid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	l := NewLocal(LocalOptions{})
	defer l.Close()
	dst := filepath.Join(t.TempDir(), "suid")
	if err := Upload(context.Background(), l, dst, 0o755|os.ModeSetuid, "nobody", strings.NewReader("x"), true); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dst)
	if st.Mode()&os.ModeSetuid == 0 || st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want setuid 0755", st.Mode())
	}
}

func TestUploadValidatesArguments(t *testing.T) {
	l := NewLocal(LocalOptions{})
	defer l.Close()
	tests := []struct {
		dst   string
		mode  os.FileMode
		owner string
	}{
		{"relative/path", 0o644, ""},
		{"/", 0o644, ""},
		{"/tmp/../etc/x", 0o644, ""},
		{"/tmp/x\ny", 0o644, ""},
		{"/tmp/x", os.ModeDir | 0o755, ""},
		{"/tmp/x", 0o644, "root; rm -rf /"},
		{"/tmp/x", 0o644, "-R"},
	}
	for _, tt := range tests {
		if err := Upload(context.Background(), l, tt.dst, tt.mode, tt.owner, strings.NewReader(""), false); err == nil {
			t.Errorf("Upload(%q, %v, %q) accepted", tt.dst, tt.mode, tt.owner)
		}
	}
}

func TestOctalMode(t *testing.T) {
	tests := map[os.FileMode]string{
		0o755:                                 "0755",
		0o600:                                 "0600",
		0o4755&^0o4000 | os.ModeSetuid:        "4755",
		0o775 | os.ModeSetgid:                 "2775",
		0o777 | os.ModeSticky:                 "1777",
		0o750 | os.ModeSetuid | os.ModeSetgid: "6750",
	}
	for in, want := range tests {
		if got := octalMode(in); got != want {
			t.Errorf("octalMode(%v) = %s, want %s", in, got, want)
		}
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), uploadPrefix) {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestGenerateHostKeyIsUniqueAndParses(t *testing.T) {
	p1, l1, err := GenerateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	p2, l2, _ := GenerateHostKey()
	if bytes.Equal(p1, p2) || l1 == l2 {
		t.Error("two generated keys are equal")
	}
	if !strings.HasPrefix(l1, "ssh-ed25519 ") || strings.Contains(l1, "\n") {
		t.Errorf("authorized_keys line %q", l1)
	}
	if !bytes.HasPrefix(p1, []byte("-----BEGIN OPENSSH PRIVATE KEY-----")) {
		t.Errorf("private key is not OpenSSH PEM: %.40s", p1)
	}
}
