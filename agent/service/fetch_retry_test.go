package service

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flakySource breaks off the first breaks transfers after half the bytes,
// as the object reader did under load ("nats: timeout").
type flakySource struct {
	data   []byte
	breaks int
	opens  int
}

func (f *flakySource) Open(context.Context, string) (io.ReadCloser, error) {
	f.opens++
	if f.opens <= f.breaks {
		return io.NopCloser(io.MultiReader(bytes.NewReader(f.data[:len(f.data)/2]), errReader{})), nil
	}
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("nats: timeout") }

func TestFetchTriesABrokenTransferAgain(t *testing.T) {
	keys := NewTestKeys()
	data := bytes.Repeat([]byte("k3s"), 1000)
	ref := keys.Ref("k3s", "v1", "k3s", data)
	dst := filepath.Join(t.TempDir(), "k3s")

	src := &flakySource{data: data, breaks: fetchAttempts - 1}
	if err := FetchArtifact(context.Background(), src, keys.Verifier, ref, dst); err != nil {
		t.Fatalf("fetch after %d broken transfers: %v", src.breaks, err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) || src.opens != fetchAttempts {
		t.Fatalf("installed %d bytes after %d opens", len(got), src.opens)
	}

	dst2 := filepath.Join(t.TempDir(), "k3s")
	always := &flakySource{data: data, breaks: 100}
	err := FetchArtifact(context.Background(), always, keys.Verifier, ref, dst2)
	if err == nil || !strings.Contains(err.Error(), "fetch failed after") || always.opens != fetchAttempts {
		t.Fatalf("err = %v after %d opens", err, always.opens)
	}
	if _, err := os.Stat(dst2); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed fetch left %s", dst2)
	}
	// A wrong digest is not a broken transfer: one try only.
	bad := &flakySource{data: append([]byte("x"), data[1:]...)}
	if err := FetchArtifact(context.Background(), bad, keys.Verifier, ref, filepath.Join(t.TempDir(), "k3s")); err == nil || bad.opens != 1 {
		t.Fatalf("tampered bytes: err %v, %d opens", err, bad.opens)
	}
}
