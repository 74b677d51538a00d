package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// journal is a small append-only file of JSON lines under the agent's
// state directory, written through (fsync) on every append, so what it
// holds survives a crash or a restart of the agent. A line cut short by a
// crash is skipped when the file is read back. It is rewritten whole
// (temporary file, fsync, rename, directory fsync) to drop what is no
// longer needed.
type journal struct {
	path string
	f    *os.File
	size int64
}

// openJournal opens path for appending, creating it (0600) if needed,
// and returns the complete lines it already holds.
func openJournal(path string) (*journal, [][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := sc.Bytes(); json.Valid(l) {
			lines = append(lines, bytes.Clone(l))
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &journal{path: path, f: f, size: int64(len(b))}, lines, nil
}

// append writes v as one line and syncs it to disk.
func (j *journal) append(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	n, err := j.f.Write(b)
	j.size += int64(n)
	if err != nil {
		return fmt.Errorf("write %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", j.path, err)
	}
	return nil
}

// rewrite replaces the file with exactly vs.
func (j *journal) rewrite(vs []any) error {
	var buf bytes.Buffer
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	dir := filepath.Dir(j.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(j.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", j.path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("rewrite %s: %w", j.path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("rewrite %s: %w", j.path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), j.path); err != nil {
		return fmt.Errorf("rewrite %s: %w", j.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", j.path, err)
	}
	j.f.Close()
	j.f, j.size = f, int64(buf.Len())
	return nil
}

func (j *journal) close() {
	if j != nil {
		j.f.Close()
	}
}
