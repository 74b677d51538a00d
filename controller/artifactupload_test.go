package controller_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// uploader sends raw upload steps as one operator, so tests can send what
// the client never would (half an upload, parts out of order, a wrong
// digest).
type uploader struct {
	t    *testing.T
	nc   *nats.Conn
	kp   nkeys.KeyPair
	name string
	id   string
}

func newUploader(t *testing.T, c *controller.Controller, cl *client.Client, file string) *uploader {
	return &uploader{t: t, nc: cl.Conn(), kp: keyPair(t, c.AdminCredsPath()),
		name: messages.ArtifactObjectName("app", "1.0", file), id: rand.Text()}
}

func (u *uploader) step(req messages.ArtifactUploadRequest) *messages.Error {
	u.t.Helper()
	req.Name, req.Upload = u.name, u.id
	b, err := messages.EncodeArtifactUploadRequest(req)
	if err != nil {
		u.t.Fatal(err)
	}
	return apiError(u.t, u.nc, signedMsg(u.t, u.kp, messages.APIArtifactUpload, b))
}

func (u *uploader) part(n int, chunk []byte) *messages.Error {
	u.t.Helper()
	return u.step(messages.ArtifactUploadRequest{Part: n, Chunk: chunk})
}

func (u *uploader) done(whole []byte) *messages.Error {
	u.t.Helper()
	h := sha256.Sum256(whole)
	return u.step(messages.ArtifactUploadRequest{Done: true, Size: int64(len(whole)), SHA256: hex.EncodeToString(h[:])})
}

// importBytes uploads b as app/1.0/file through the client and signs it.
func importBytes(t *testing.T, cl *client.Client, file string, b []byte) messages.Artifact {
	t.Helper()
	ctx := context.Background()
	if err := cl.UploadArtifact(ctx, "app", "1.0", file, bytes.NewReader(b)); err != nil {
		t.Fatalf("upload: %v", err)
	}
	res, err := cl.ImportArtifact(ctx, messages.ArtifactImportRequest{Component: "app", Version: "1.0", Files: []string{file}})
	if err != nil || len(res.Artifacts) != 1 || !res.Artifacts[0].Verified {
		t.Fatalf("import: %+v %v", res, err)
	}
	return res.Artifacts[0]
}

// storedIs checks that the store serves want, signed, as app/1.0/file.
func storedIs(t *testing.T, cl *client.Client, file string, want []byte) {
	t.Helper()
	ctx := context.Background()
	list, err := cl.ListArtifacts(ctx, messages.ArtifactListRequest{Component: "app"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list.Artifacts {
		if a.File != file {
			continue
		}
		if !a.Verified {
			t.Fatalf("%s is no longer verified: %s", file, a.Problem)
		}
		got, err := cl.DownloadArtifact(ctx, a.ArtifactRef)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s reads back as %d bytes (%v), want the %d signed ones", file, len(got), err, len(want))
		}
		return
	}
	t.Fatalf("%s is not in the store: %+v", file, list.Artifacts)
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func wantCode(t *testing.T, what string, e *messages.Error, code, contains string) {
	t.Helper()
	if e == nil || e.Code != code || !strings.Contains(e.Message, contains) {
		t.Fatalf("%s: got %+v, want %s saying %q", what, e, code, contains)
	}
}

// An upload step carries at most one chunk of ArtifactUploadChunkBytes
// and names a part within the largest artifact.
func TestUploadChunkIsBounded(t *testing.T) {
	c := ct.StartController(t)
	u := newUploader(t, c, ct.Client(t, c), "app")
	wantCode(t, "oversized chunk", u.part(0, make([]byte, messages.ArtifactUploadChunkBytes+1)), messages.CodeBadRequest, "send at most")
	wantCode(t, "part past the last", u.part(messages.MaxArtifactUploadParts, []byte("x")), messages.CodeBadRequest, "out of bounds")
	wantCode(t, "negative part", u.part(-1, []byte("x")), messages.CodeBadRequest, "out of bounds")
	if e := u.part(0, make([]byte, messages.ArtifactUploadChunkBytes)); e != nil {
		t.Fatalf("a full chunk: %+v", e)
	}
}

// An upload that grows past the byte bound is refused at the chunk that
// crosses it, its chunks are purged, and the client says so in one
// sentence; nothing replaces the stored object.
func TestUploadTotalSizeIsBounded(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	small := randomBytes(t, 1000)
	importBytes(t, cl, "app", small)
	c.SetUploadBounds(8, 600<<10, time.Hour)

	err := cl.UploadArtifact(context.Background(), "app", "1.0", "app", bytes.NewReader(randomBytes(t, 1<<20)))
	if err == nil || !strings.Contains(err.Error(), "over the 614400-byte limit") {
		t.Fatalf("a 1 MiB upload against a 600 KiB bound: %v", err)
	}
	storedIs(t, cl, "app", small)
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n, err := c.UploadChunks(context.Background()); err != nil || n != 1 {
			return fmt.Errorf("%d upload chunks stored (%v), want only the stored object's 1", n, err)
		}
		return nil
	})
}

// At most so many uploads are in progress on a controller at once; a
// finished or aborted one frees its place.
func TestConcurrentUploadsAreBounded(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	c.SetUploadBounds(2, messages.MaxArtifactBytes, time.Hour)
	a, b, third := newUploader(t, c, cl, "a"), newUploader(t, c, cl, "b"), newUploader(t, c, cl, "c")
	for _, u := range []*uploader{a, b} {
		if e := u.part(0, []byte("first chunk")); e != nil {
			t.Fatal(e)
		}
	}
	wantCode(t, "a third upload", third.part(0, []byte("first chunk")), messages.CodeUnavailable, "retry when one has finished")
	// Uploads in progress go on.
	if e := a.part(1, []byte("second chunk")); e != nil {
		t.Fatalf("next chunk of an upload in progress: %+v", e)
	}
	if e := b.step(messages.ArtifactUploadRequest{Abort: true}); e != nil {
		t.Fatal(e)
	}
	if e := third.part(0, []byte("first chunk")); e != nil {
		t.Fatalf("an upload after one was aborted: %+v", e)
	}
	if e := a.done([]byte("first chunksecond chunk")); e != nil {
		t.Fatalf("finish: %+v", e)
	}
	if e := newUploader(t, c, cl, "d").part(0, []byte("x")); e != nil {
		t.Fatalf("an upload after one finished: %+v", e)
	}
}

// Until every part has arrived, in order, with the size and digest the
// client sent, the stored object stays what it was: a half-finished
// upload, a wrong digest, parts out of order or missing, and an abort leave
// it readable and verified.
func TestUnfinishedUploadDoesNotReplaceTheObject(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	orig := randomBytes(t, 300<<10) // two chunks
	importBytes(t, cl, "app", orig)
	next := randomBytes(t, 20)

	half := newUploader(t, c, cl, "app")
	if e := half.part(0, next[:10]); e != nil {
		t.Fatal(e)
	}
	storedIs(t, cl, "app", orig)

	wrong := newUploader(t, c, cl, "app")
	if e := wrong.part(0, next); e != nil {
		t.Fatal(e)
	}
	bad := bytes.Clone(next)
	bad[19] ^= 1
	wantCode(t, "wrong digest", wrong.done(bad), messages.CodeBadRequest, "another digest")
	wantCode(t, "wrong size", wrong.done(next[:10]), messages.CodeBadRequest, "another digest")
	storedIs(t, cl, "app", orig)

	swapped := newUploader(t, c, cl, "app")
	for _, p := range []int{1, 0} {
		if e := swapped.part(p, next[p*10:p*10+10]); e != nil {
			t.Fatal(e)
		}
	}
	wantCode(t, "parts out of order", swapped.done(next), messages.CodeBadRequest, "out of order")
	gap := newUploader(t, c, cl, "app")
	for _, p := range []int{0, 2} {
		if e := gap.part(p, next[:10]); e != nil {
			t.Fatal(e)
		}
	}
	wantCode(t, "a part missing", gap.done(append(bytes.Clone(next[:10]), next[:10]...)), messages.CodeBadRequest, "out of order")
	storedIs(t, cl, "app", orig)

	aborted := newUploader(t, c, cl, "app")
	if e := aborted.part(0, next); e != nil {
		t.Fatal(e)
	}
	if e := aborted.step(messages.ArtifactUploadRequest{Abort: true}); e != nil {
		t.Fatal(e)
	}
	storedIs(t, cl, "app", orig)

	// A complete upload replaces it (unsigned until imported), and its
	// id cannot be reused to add chunks to the object it became.
	whole := newUploader(t, c, cl, "app")
	if e := whole.part(0, next); e != nil {
		t.Fatal(e)
	}
	if e := whole.done(next); e != nil {
		t.Fatalf("a complete upload: %+v", e)
	}
	wantCode(t, "reused upload id", whole.part(1, []byte("more")), messages.CodeConflict, "start a new upload")
	res, err := cl.ImportArtifact(context.Background(), messages.ArtifactImportRequest{Component: "app", Version: "1.0", Files: []string{"app"}})
	if err != nil || !res.Artifacts[0].Verified {
		t.Fatalf("import: %+v %v", res, err)
	}
	storedIs(t, cl, "app", next)
}

// Chunks of uploads nobody finished are purged once they are older than
// the stale bound; a committed object's chunks are kept.
func TestStaleUploadsAreSwept(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	orig := randomBytes(t, 1000)
	importBytes(t, cl, "app", orig)
	c.SetUploadBounds(1, messages.MaxArtifactBytes, 300*time.Millisecond)
	left := newUploader(t, c, cl, "app")
	for p := range 3 {
		if e := left.part(p, []byte("left behind")); e != nil {
			t.Fatal(e)
		}
	}
	ctx := context.Background()
	if n, err := c.UploadChunks(ctx); err != nil || n != 4 {
		t.Fatalf("%d upload chunks (%v), want 3 left behind and 1 stored", n, err)
	}
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if err := c.SweepUploads(ctx); err != nil {
			return err
		}
		if n, err := c.UploadChunks(ctx); err != nil || n != 1 {
			return fmt.Errorf("%d upload chunks (%v), want the stored object's 1", n, err)
		}
		return nil
	})
	storedIs(t, cl, "app", orig)
	// The swept upload no longer holds the one place.
	if e := newUploader(t, c, cl, "b").part(0, []byte("x")); e != nil {
		t.Fatalf("an upload after the sweep: %+v", e)
	}
	// Finishing the swept upload is refused: its parts are gone.
	if e := left.done([]byte("left behindleft behindleft behind")); e == nil {
		t.Fatal("the swept upload was committed")
	}
	storedIs(t, cl, "app", orig)
}

// A read-only operator cannot upload: the client says so in one
// sentence, and nothing is stored.
func TestReadOnlyOperatorCannotUpload(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	viewer := ct.ClientWithCreds(t, c, ct.CreateOperator(t, admin, "viewer", messages.RoleReadOnly))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := viewer.UploadArtifact(ctx, "app", "1.0", "app", bytes.NewReader(randomBytes(t, 1000)))
	if err == nil || err.Error() != "your operator role may not upload artifacts; ask an admin to run foundry artifact import" {
		t.Fatalf("read-only upload: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the refusal took %s; it should be immediate", d)
	}
	if n, err := c.UploadChunks(ctx); err != nil || n != 0 {
		t.Fatalf("%d upload chunks stored after a refused upload (%v)", n, err)
	}
}
