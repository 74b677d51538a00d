package ssh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
	"time"
)

// ownerRE accepts "user", "user:group", "uid" or "uid:gid".
var ownerRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$`)

// uploadPrefix starts the name of the temporary file next to dst.
const uploadPrefix = ".foundry-upload."

// Upload writes content to dst on the host, atomically: the content is
// streamed over stdin (never on a command line) into a temporary file in
// dst's directory, its sha256 is checked against what was sent, then it is
// chowned, chmodded and renamed over dst. A reader, a connection or a
// command that fails half-way leaves dst untouched.
//
// owner is "user[:group]" or "" to keep the owner of the writing user;
// mode may include os.ModeSetuid, os.ModeSetgid and os.ModeSticky. With sudo
// the file is written as root. dst's directory must exist.
func Upload(ctx context.Context, r Runner, dst string, mode os.FileMode, owner string, content io.Reader, sudo bool) error {
	if err := validateUpload(dst, mode, owner); err != nil {
		return fmt.Errorf("upload %s: %w", dst, err)
	}
	dir := path.Dir(dst)

	// Step 1: stream into a private temp file, report its sha256 and name.
	h := sha256.New()
	var n int64
	counted := &countingReader{r: io.TeeReader(content, h), n: &n}
	stage := "set -eu\numask 077\n" +
		"tmp=$(mktemp " + Quote(dir+"/"+uploadPrefix+"XXXXXXXX") + ")\n" +
		"trap 'rm -f \"$tmp\"' EXIT HUP INT TERM\n" +
		"cat >\"$tmp\"\n" +
		"sync \"$tmp\" 2>/dev/null || true\n" +
		"sum=$(sha256sum <\"$tmp\")\n" +
		"trap - EXIT HUP INT TERM\n" +
		"printf '%s %s\\n' \"${sum%% *}\" \"$tmp\"\n"
	res, err := r.Run(ctx, Command{Line: stage, Stdin: counted, Sudo: sudo})
	fields := strings.Fields(res.Stdout)
	valid := len(fields) == 2 && strings.HasPrefix(fields[1], dir+"/"+uploadPrefix)
	if err != nil {
		if valid { // the host finished, but what it got is not what we meant to send
			cleanupUpload(ctx, r, fields[1], sudo)
		}
		return fmt.Errorf("upload %s: writing the temporary file: %w", dst, err)
	}
	if !valid {
		return fmt.Errorf("upload %s: unexpected answer from the host: %q", dst, tail(res.Stdout, 300))
	}
	remoteSum, tmp := fields[0], fields[1]
	if want := hex.EncodeToString(h.Sum(nil)); remoteSum != want {
		cleanupUpload(ctx, r, tmp, sudo)
		return fmt.Errorf("upload %s: the host received %d bytes with sha256 %s, sent sha256 %s", dst, n, remoteSum, want)
	}

	// Step 2: owner and mode, then the atomic rename.
	finish := "set -eu\n"
	if owner != "" {
		finish += "chown " + Quote(owner) + " " + Quote(tmp) + "\n" // before chmod: chown clears setuid bits
	}
	finish += "chmod " + octalMode(mode) + " " + Quote(tmp) + "\n" +
		"mv -f -T " + Quote(tmp) + " " + Quote(dst) + "\n"
	if _, err := r.Run(ctx, Command{Line: finish, Sudo: sudo}); err != nil {
		cleanupUpload(ctx, r, tmp, sudo)
		return fmt.Errorf("upload %s: installing the file: %w", dst, err)
	}
	return nil
}

// cleanupUpload removes a temporary file, even after ctx was cancelled.
func cleanupUpload(ctx context.Context, r Runner, tmp string, sudo bool) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = r.Run(cctx, Command{Line: "rm -f " + Quote(tmp), Sudo: sudo})
}

func validateUpload(dst string, mode os.FileMode, owner string) error {
	switch {
	case !strings.HasPrefix(dst, "/"):
		return errors.New("destination must be an absolute path")
	case path.Clean(dst) != dst || dst == "/":
		return errors.New("destination must be a clean path to a file")
	case strings.ContainsAny(dst, "\n\x00"):
		return errors.New("destination contains a newline or NUL")
	case mode&^(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0:
		return fmt.Errorf("mode %v is not a plain file mode", mode)
	case owner != "" && !ownerRE.MatchString(owner):
		return fmt.Errorf("owner %q is not user[:group]", owner)
	}
	return nil
}

// octalMode renders mode for chmod, e.g. "0755" or "4755".
func octalMode(mode os.FileMode) string {
	m := uint32(mode.Perm())
	if mode&os.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&os.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&os.ModeSticky != 0 {
		m |= 0o1000
	}
	return fmt.Sprintf("%04o", m)
}

type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}
