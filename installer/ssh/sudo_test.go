package ssh

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// fakeHost plays sudo: it answers the probe with mode and checks the
// password line against password, recording what it was asked to run.
type fakeHost struct {
	mode     string // answer to probeSudo: root, nopasswd, password, nosudo
	password string
	inSudo   bool
	calls    []fakeCall
}

type fakeCall struct {
	argv  []string
	stdin string
}

func (f *fakeHost) exec(_ context.Context, argv []string, stdin io.Reader, _ io.Writer) (Result, string, error) {
	in := ""
	if stdin != nil {
		b, _ := io.ReadAll(stdin)
		in = string(b)
	}
	f.calls = append(f.calls, fakeCall{argv: argv, stdin: in})
	line := strings.Join(argv, " ")
	switch {
	case argv[0] == "sh" && argv[2] == probeSudo:
		return Result{Stdout: f.mode + "\n"}, "", nil
	case argv[0] == "sudo" && argv[1] == "-k":
		pw, rest, _ := strings.Cut(in, "\n")
		if pw != f.password {
			return Result{Stderr: "Sorry, try again.\nsudo: 1 incorrect password attempt\n", ExitCode: 1}, "", nil
		}
		if !f.inSudo {
			return Result{Stderr: "nosudo is not in the sudoers file.\n", ExitCode: 1}, "", nil
		}
		if strings.HasSuffix(line, "-- true") {
			return Result{}, "", nil
		}
		return Result{Stdout: "0\n" + rest}, "", nil
	case argv[0] == "sudo" && argv[1] == "-n":
		return Result{Stdout: "0\n"}, "", nil
	case argv[0] == "sh":
		if argv[2] == "exit 3" {
			return Result{Stderr: "boom\n", ExitCode: 3}, "", nil
		}
		return Result{Stdout: "ran\n"}, "", nil
	}
	return Result{}, "", errors.New("unexpected argv " + line)
}

func newFakeCore(f *fakeHost, password string) *core {
	c := &core{host: "h:22", user: "admin", exec: f.exec}
	if password != "" {
		c.sudoPass = []byte(password)
	}
	return c
}

func TestSudoPasswordIsFirstStdinLineNeverArgv(t *testing.T) {
	f := &fakeHost{mode: "password", password: "s3cret", inSudo: true}
	c := newFakeCore(f, "s3cret")
	res, err := c.run(context.Background(), Command{Line: "id -u; cat", Stdin: strings.NewReader("payload"), Sudo: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "0\npayload" {
		t.Errorf("stdout = %q, want the command to see only the payload", res.Stdout)
	}
	want := []string{"sudo", "-k", "-S", "-p", "", "--", "sh", "-c", "id -u; cat"}
	last := f.calls[len(f.calls)-1]
	if strings.Join(last.argv, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("argv = %q, want %q", last.argv, want)
	}
	if last.stdin != "s3cret\npayload" {
		t.Errorf("stdin = %q, want the password line then the payload", last.stdin)
	}
	for _, call := range f.calls {
		if strings.Contains(strings.Join(call.argv, " "), "s3cret") {
			t.Errorf("password on a command line: %q", call.argv)
		}
	}
}

func TestSudoProbesOnce(t *testing.T) {
	f := &fakeHost{mode: "password", password: "pw", inSudo: true}
	c := newFakeCore(f, "pw")
	for i := 0; i < 3; i++ {
		if _, err := c.run(context.Background(), Command{Line: "true", Sudo: true}); err != nil {
			t.Fatal(err)
		}
	}
	// probe + 3 commands: the first command checks the password
	if len(f.calls) != 4 {
		t.Errorf("%d calls, want 4: %v", len(f.calls), f.calls)
	}
}

func TestSudoModes(t *testing.T) {
	tests := []struct {
		name     string
		host     fakeHost
		password string
		wantArgv string
		wantErr  error
	}{
		{"root runs directly", fakeHost{mode: "root"}, "", "sh -c whoami", nil},
		{"nopasswd uses -n and no stdin", fakeHost{mode: "nopasswd"}, "pw", "sudo -n -- sh -c whoami", nil},
		{"password required but none given is ErrNoSudo", fakeHost{mode: "password"}, "", "", ErrNoSudo},
		{"not in sudoers is ErrNoSudo", fakeHost{mode: "password", password: "pw"}, "pw", "", ErrNoSudo},
		{"wrong password is ErrSudoPassword", fakeHost{mode: "password", password: "right", inSudo: true}, "wrong", "", ErrSudoPassword},
		{"no sudo binary is ErrNoSudo", fakeHost{mode: "nosudo"}, "pw", "", ErrNoSudo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.host
			c := newFakeCore(&f, tt.password)
			_, err := c.run(context.Background(), Command{Line: "whoami", Sudo: true})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if !strings.Contains(err.Error(), "admin") || !strings.Contains(err.Error(), "h:22") {
					t.Errorf("error %q does not name user and host", err)
				}
				// the answer is remembered: no second probe
				n := len(f.calls)
				if _, err2 := c.run(context.Background(), Command{Line: "whoami", Sudo: true}); !errors.Is(err2, tt.wantErr) || len(f.calls) != n {
					t.Errorf("second run: err %v, %d new calls", err2, len(f.calls)-n)
				}
				return
			}
			last := f.calls[len(f.calls)-1]
			if got := strings.Join(last.argv, " "); got != tt.wantArgv {
				t.Errorf("argv = %q, want %q", got, tt.wantArgv)
			}
			if last.stdin != "" {
				t.Errorf("stdin = %q, want none", last.stdin)
			}
		})
	}
}

func TestNoSudoMessageSaysWhatToDo(t *testing.T) {
	err := &NoSudoError{User: "nosudo", Host: "10.0.0.5:22"}
	want := "user nosudo cannot use sudo on 10.0.0.5:22; add it to the sudo group or use --user with a sudo-capable account"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
}

func TestNonZeroExitIsExitErrorWithCommandAndStderr(t *testing.T) {
	f := &fakeHost{mode: "root"}
	c := newFakeCore(f, "")
	res, err := c.run(context.Background(), Command{Line: "exit 3"})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *ExitError", err)
	}
	if ee.ExitCode != 3 || ee.Command != "exit 3" || ee.Stderr != "boom\n" || ee.Host != "h:22" || res.ExitCode != 3 {
		t.Errorf("got %+v / %+v", ee, res)
	}
	if want := `h:22: command "exit 3" exited with status 3: boom`; ee.Error() != want {
		t.Errorf("Error() = %q, want %q", ee.Error(), want)
	}
}

func TestWipeClearsSudoPassword(t *testing.T) {
	pw := []byte("pw")
	c := &core{sudoPass: pw}
	c.wipe()
	if string(pw) != "\x00\x00" || c.sudoPass != nil {
		t.Errorf("password not wiped: %q", pw)
	}
}

func TestRejectsBadLines(t *testing.T) {
	c := newFakeCore(&fakeHost{}, "")
	for _, line := range []string{"", "  ", "echo a\x00b"} {
		if _, err := c.run(context.Background(), Command{Line: line}); err == nil {
			t.Errorf("line %q accepted", line)
		}
	}
}
