package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// A .deb is an ar archive of three members (deb(5)): debian-binary,
// control.tar.gz and data.tar.gz. This file writes them.

// arHeader is one 60-byte member header of the common (System V/GNU and
// BSD) ar format: name, mtime, uid, gid, octal mode, size, "`\n".
func arHeader(name string, mtime time.Time, size int) []byte {
	h := fmt.Sprintf("%-16s%-12d%-6d%-6d%-8o%-10d`\n", name, mtime.Unix(), 0, 0, 0o100644, size)
	return []byte(h)
}

// writeAr writes the archive; members are padded to an even length with
// "\n" as ar requires.
func writeAr(w io.Writer, mtime time.Time, members []arMember) error {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		if len(m.name) > 16 {
			return fmt.Errorf("ar member name %q is longer than 16 bytes", m.name)
		}
		b.Write(arHeader(m.name, mtime, len(m.data)))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

type arMember struct {
	name string
	data []byte
}

// tarEntry is one member of control.tar.gz or data.tar.gz.
type tarEntry struct {
	name string // "./usr/bin/x" or "./usr/bin/" for a directory
	mode int64
	dir  bool
	data []byte
}

// tarGz writes entries into a gzip-compressed tar whose every header has
// the same time and root ownership, and whose gzip header has no name and
// no time: the same entries always give the same bytes.
func tarGz(entries []tarEntry, mtime time.Time) ([]byte, error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if err := writeTar(zw, entries, mtime); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// plainTar is tarGz without the compression.
func plainTar(entries []tarEntry, mtime time.Time) ([]byte, error) {
	var b bytes.Buffer
	if err := writeTar(&b, entries, mtime); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeTar(w io.Writer, entries []tarEntry, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatGNU}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// dataEntries lists every directory the files need (sorted, "./" first),
// then the files (sorted), as dpkg-deb --build would.
func dataEntries(files []fileData) []tarEntry {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.path); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	out := []tarEntry{{name: "./", mode: 0o755, dir: true}}
	for _, d := range names {
		out = append(out, tarEntry{name: "." + d + "/", mode: 0o755, dir: true})
	}
	sorted := append([]fileData(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].path < sorted[j].path })
	for _, f := range sorted {
		out = append(out, tarEntry{name: "." + f.path, mode: int64(f.mode.Perm()), data: f.data})
	}
	return out
}

// md5sums is the control member dpkg checks installed files against
// (`dpkg --verify`): "<md5>  <path without the leading slash>".
func md5sums(files []fileData) []byte {
	sorted := append([]fileData(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].path < sorted[j].path })
	var b strings.Builder
	for _, f := range sorted {
		sum := md5.Sum(f.data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), strings.TrimPrefix(f.path, "/"))
	}
	return []byte(b.String())
}
