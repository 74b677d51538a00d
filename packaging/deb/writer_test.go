package deb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"github.com/foundry-fleet/foundry/packaging/deb"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

type member struct {
	name  string
	mtime int64
	data  []byte
}

// readAr parses the archive the way dpkg does: magic, 60-byte headers,
// members padded to an even length.
func readAr(t *testing.T, b []byte) []member {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Fatalf("no ar magic: %q", b[:8])
	}
	b = b[8:]
	var out []member
	for len(b) > 0 {
		if len(b) < 60 || string(b[58:60]) != "`\n" {
			t.Fatalf("bad ar header %q", b[:min(60, len(b))])
		}
		h := b[:60]
		size, err := strconv.Atoi(strings.TrimSpace(string(h[48:58])))
		if err != nil {
			t.Fatal(err)
		}
		mtime, _ := strconv.ParseInt(strings.TrimSpace(string(h[16:28])), 10, 64)
		if uid, gid, mode := strings.TrimSpace(string(h[28:34])), strings.TrimSpace(string(h[34:40])), strings.TrimSpace(string(h[40:48])); uid != "0" || gid != "0" || mode != "100644" {
			t.Errorf("member header uid %q gid %q mode %q", uid, gid, mode)
		}
		out = append(out, member{strings.TrimSpace(string(h[:16])), mtime, b[60 : 60+size]})
		b = b[60+size:]
		if size%2 == 1 {
			if b[0] != '\n' {
				t.Fatalf("odd member not padded with a newline")
			}
			b = b[1:]
		}
	}
	return out
}

type entry struct {
	hdr  *tar.Header
	data string
}

func readTarGz(t *testing.T, b []byte) []entry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q, time %v", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		d, _ := io.ReadAll(tr)
		out = append(out, entry{h, string(d)})
	}
}

func TestTheArchiveIsThreeMembersWithOneTimeAndRootOwners(t *testing.T) {
	ms := readAr(t, build(t, opts(t), false))
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
		if m.mtime != when.Unix() {
			t.Errorf("%s: mtime %d", m.name, m.mtime)
		}
	}
	if strings.Join(names, " ") != "debian-binary control.tar.gz data.tar.gz" || string(ms[0].data) != "2.0\n" {
		t.Fatalf("members %v, debian-binary %q", names, ms[0].data)
	}
	control := map[string]*tar.Header{}
	for _, e := range readTarGz(t, ms[1].data) {
		control[e.hdr.Name] = e.hdr
	}
	for _, s := range []string{"./postinst", "./prerm", "./postrm"} {
		if h := control[s]; h == nil || h.Mode != 0o755 {
			t.Errorf("%s: %+v", s, h)
		}
	}
	if control["./control"] == nil || control["./md5sums"] == nil {
		t.Errorf("control members: %v", control)
	}
	var seen []string
	files := false
	for _, e := range append(readTarGz(t, ms[1].data), readTarGz(t, ms[2].data)...) {
		h := e.hdr
		if !h.ModTime.Equal(when) || h.Uid != 0 || h.Gid != 0 || h.Uname != "root" || h.Gname != "root" {
			t.Errorf("%s: time %v owner %d:%d %s:%s", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname)
		}
	}
	for _, e := range readTarGz(t, ms[2].data) {
		if e.hdr.Typeflag == tar.TypeDir && files {
			t.Errorf("directory %s after a file", e.hdr.Name)
		}
		files = files || e.hdr.Typeflag == tar.TypeReg
		seen = append(seen, e.hdr.Name)
	}
	want := []string{"./", "./lib/", "./lib/systemd/", "./lib/systemd/system/", "./usr/", "./usr/bin/",
		"./lib/systemd/system/foundry-agent.service", "./usr/bin/foundry-agent"}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("data entries\n got %v\nwant %v", seen, want)
	}
}

// TestTheBinaryInMemoryOrOnDiskGivesTheSameBytes: host add builds the
// package from the binary it holds, make package from a file; a file's own
// time does not leak into the package either.
func TestTheBinaryInMemoryOrOnDiskGivesTheSameBytes(t *testing.T) {
	o := opts(t)
	a := build(t, o, false)
	os.Chtimes(o.Binary, time.Unix(1, 0), time.Unix(1, 0))
	data, _ := os.ReadFile(o.Binary)
	o.Binary, o.BinaryData = "", data
	if b := build(t, o, false); !bytes.Equal(a, b) {
		t.Fatal("the package differs by where its binary came from")
	}
	o.MTime = when.Add(time.Hour)
	if b := build(t, o, false); bytes.Equal(a, b) {
		t.Fatal("MTime does not reach the package")
	}
}

func TestConffilesAreListedAndDpkgReadsThem(t *testing.T) {
	p := &deb.Package{Name: "x", Version: "1.0", Arch: "amd64", Description: "x\n a test", MTime: when,
		Files:     []deb.File{{Path: "/etc/x/x.conf", Mode: 0o644, Data: []byte("a=1\n")}, {Path: "/usr/bin/x", Mode: 0o755, Data: []byte("x")}},
		Conffiles: []string{"/etc/x/x.conf"}}
	var b bytes.Buffer
	if err := deb.Write(p, &b); err != nil {
		t.Fatal(err)
	}
	if cf := dpkgDeb(t, b.Bytes(), "--info", "{}", "conffiles"); cf != "/etc/x/x.conf\n" {
		t.Errorf("conffiles %q", cf)
	}
	sums := dpkgDeb(t, b.Bytes(), "--info", "{}", "md5sums")
	if sums != "d5e29449b9e66d5b4bb0d6ce48fbbcb1  etc/x/x.conf\n9dd4e461268c8034f5c8564e155c67a6  usr/bin/x\n" {
		t.Errorf("md5sums %q", sums)
	}
}

func TestWriteRefusesWhatDpkgWouldNot(t *testing.T) {
	ok := func() *deb.Package {
		return &deb.Package{Name: "x", Version: "1.0", Arch: "amd64", Description: "x", MTime: when,
			Files: []deb.File{{Path: "/usr/bin/x", Mode: 0o755, Data: []byte("x")}}}
	}
	cases := map[string]func(p *deb.Package){
		"absolute and clean":  func(p *deb.Package) { p.Files[0].Path = "usr/bin/x" },
		"listed twice":        func(p *deb.Package) { p.Files = append(p.Files, p.Files[0]) },
		"not among":           func(p *deb.Package) { p.Conffiles = []string{"/etc/nope"} },
		"not one dpkg runs":   func(p *deb.Package) { p.Scripts = map[string]string{"config": "#!/bin/sh\n"} },
		"needs a description": func(p *deb.Package) { p.Description = "" },
	}
	keys := make([]string, 0, len(cases))
	for k := range cases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, want := range keys {
		p := ok()
		cases[want](p)
		if err := deb.Write(p, io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
	if err := deb.Write(ok(), io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestAnUncompressedPackageIsReadByDpkg(t *testing.T) {
	p, err := deb.Agent(opts(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Uncompressed = true
	var b bytes.Buffer
	if err := deb.Write(p, &b); err != nil {
		t.Fatal(err)
	}
	if ms := readAr(t, b.Bytes()); len(ms) != 3 || ms[2].name != "data.tar" {
		t.Fatalf("members %+v", ms)
	}
	if list := dpkgDeb(t, b.Bytes(), "--contents", "{}"); !strings.Contains(list, "./usr/bin/foundry-agent") {
		t.Fatalf("contents:\n%s", list)
	}
}
