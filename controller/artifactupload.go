package controller

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// Upload bounds, per controller. An upload's chunks sit in the artifact
// stream until its final step, so what one operator can make the
// controller store before that is bounded: maxUploads uploads at once,
// each at most messages.MaxArtifactBytes, and an upload whose last chunk
// is older than uploadStale is purged by the sweep.
const (
	defaultMaxUploads  = 8
	defaultUploadStale = 10 * time.Minute
)

// defaultUploadWindow is how many chunk steps the controller lets a
// client pipeline. Two hide one round trip per chunk on a distant link
// while little is in flight; on loopback, where the work and not the
// latency bounds an upload, windows of 1, 2 and 4 measured the same
// within the noise (BenchmarkArtifactImport, BENCHMARKS.md).
const defaultUploadWindow = 2

// headerUploadPart numbers a stored chunk within its upload, so the final
// step can refuse chunks stored out of order or twice.
const headerUploadPart = "Foundry-Upload-Part"

// uploadChunkPrefix starts the chunk id of every operator upload. It is
// longer than a NUID (22 characters, what the object store client gives
// an object), so an upload never writes to, nor purges, the chunks of an
// object it did not create.
const uploadChunkPrefix = "up"

// uploadTable is what this controller knows of uploads in progress: who
// started each and the bytes it stored for it. Another controller of a
// cluster may take some steps of the same upload; each bounds what it
// stores itself.
type uploadTable struct {
	mu       sync.Mutex
	m        map[string]*uploadState // by chunk id
	max      int
	maxBytes int64
	stale    time.Duration
	window   int // chunk steps a client may pipeline
}

type uploadState struct {
	name  string
	bytes int64 // reserved against the bound
	last  time.Time

	// What this controller stored itself, in part order: while every
	// part so far came through here in order (next is the part count),
	// the final step can take the digest from here instead of reading
	// every chunk back.
	next    int
	size    int64
	sum     hash.Hash
	ordered bool
}

func newUploadTable() *uploadTable {
	return &uploadTable{m: map[string]*uploadState{}, max: defaultMaxUploads, maxBytes: messages.MaxArtifactBytes, stale: defaultUploadStale,
		window: defaultUploadWindow}
}

// uploadChunkID is the object store chunk id (its NUID) of an upload: a
// digest of who uploads what under which client-chosen id, so operators
// cannot aim their chunks, or an abort, at another upload or object.
func uploadChunkID(operator, name, upload string) string {
	h := sha256.Sum256([]byte(operator + "\x00" + name + "\x00" + upload))
	return uploadChunkPrefix + hex.EncodeToString(h[:20])
}

func artifactChunkSubject(id string) string { return "$O." + messages.ArtifactBucket + ".C." + id }

func artifactMetaSubject(name string) string {
	return "$O." + messages.ArtifactBucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name))
}

// callerKey is the public key of the operator ctx's API call is for.
func callerKey(ctx context.Context) string {
	if call, ok := ctx.Value(callKey{}).(*apiCall); ok && call != nil {
		return call.op.PublicKey
	}
	return ""
}

// UploadArtifact stores one step of an operator's upload
// (messages.APIArtifactUpload). Chunks go straight into the artifact
// stream under the upload's own chunk subject, in the object store's
// format, so any controller of a cluster can take any step; the final
// step checks that every part arrived, in order, with the size and digest
// the client claims (from what this controller kept while storing them
// when it stored them all, else by reading them back), and only then
// writes the object's
// metadata, which makes the upload the object and drops the chunks of the
// object it replaces (what the object store client's Put does). A
// half-finished, aborted or refused upload leaves the existing object as
// it was. Like before, the upload is inert until ImportArtifact signs it.
func (c *Controller) UploadArtifact(ctx context.Context, req messages.ArtifactUploadRequest) (messages.ArtifactUploadResult, error) {
	var out messages.ArtifactUploadResult
	if err := messages.ValidArtifactUpload(req); err != nil {
		return out, err
	}
	id := uploadChunkID(callerKey(ctx), req.Name, req.Upload)
	switch {
	case req.Abort:
		noteUnchanged(ctx) // an upload is audited once, by its final step
		c.uploads.forget(id)
		return out, c.purgeChunks(ctx, artifactChunkSubject(id))
	case req.Done:
		defer c.uploads.forget(id)
		return c.commitUpload(ctx, req, id)
	}
	noteUnchanged(ctx)
	fresh, err := c.uploads.reserve(id, req.Name, int64(len(req.Chunk)))
	if err != nil {
		_ = c.purgeChunks(ctx, artifactChunkSubject(id))
		return out, err
	}
	if fresh {
		// The client chose an upload id it used for the object already
		// stored; its chunks would join that object's.
		if old, err := c.currentObject(ctx, req.Name); err != nil {
			c.uploads.forget(id)
			return out, err
		} else if old != nil && old.NUID == id {
			c.uploads.forget(id)
			return out, &messages.Error{Code: messages.CodeConflict, Message: fmt.Sprintf("upload id of %s was already used; start a new upload", req.Name)}
		}
	}
	m := nats.NewMsg(artifactChunkSubject(id))
	m.Header.Set(headerUploadPart, strconv.Itoa(req.Part))
	m.Data = req.Chunk
	// The message id makes a resent step a no-op within the server's
	// duplicate window.
	ack, err := c.js.PublishMsg(ctx, m, jetstream.WithMsgID(id+"."+strconv.Itoa(req.Part)))
	if err != nil {
		c.uploads.disorder(id)
		return out, fmt.Errorf("store a chunk of %s: %w", req.Name, err)
	}
	if !ack.Duplicate {
		c.uploads.stored(id, req.Part, req.Chunk)
	}
	c.uploads.mu.Lock()
	out.Window = c.uploads.window
	c.uploads.mu.Unlock()
	if len(c.opts.Routes) > 0 {
		// Pipelined steps could reach different controllers and be
		// stored out of order.
		out.Window = 1
	}
	return out, nil
}

// reserve counts n more bytes against upload id, opening it (fresh) if
// this controller has not seen it, within the bounds.
func (t *uploadTable) reserve(id, name string, n int64) (fresh bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.m[id]
	if !ok {
		if len(t.m) >= t.max {
			return false, &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf("%d artifact uploads are in progress on the controller, the most it takes at once; retry when one has finished", len(t.m))}
		}
		u = &uploadState{name: name, sum: sha256.New(), ordered: true}
		t.m[id] = u
	}
	if u.bytes+n > t.maxBytes {
		delete(t.m, id)
		return false, &messages.Error{Code: messages.CodeTooLarge, Message: fmt.Sprintf("artifact %s is over the %d-byte limit; upload a smaller file", name, t.maxBytes)}
	}
	u.bytes += n
	u.last = time.Now()
	return !ok, nil
}

// stored notes that part of upload id was stored through this controller.
func (t *uploadTable) stored(id string, part int, chunk []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.m[id]
	if !ok || !u.ordered {
		return
	}
	if part != u.next {
		u.ordered = false
		return
	}
	u.sum.Write(chunk)
	u.next++
	u.size += int64(len(chunk))
}

// disorder stops the shortcut for upload id: a chunk may or may not have
// been stored.
func (t *uploadTable) disorder(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u, ok := t.m[id]; ok {
		u.ordered = false
	}
}

// storedHere returns the part count, size and digest of upload id when
// this controller stored all of it in order, and when it last took a step.
func (t *uploadTable) storedHere(id string) (parts int, size int64, sum []byte, last time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, found := t.m[id]
	if !found || !u.ordered {
		return 0, 0, nil, time.Time{}, false
	}
	return u.next, u.size, u.sum.Sum(nil), u.last, true
}

func (t *uploadTable) forget(id string) {
	t.mu.Lock()
	delete(t.m, id)
	t.mu.Unlock()
}

func (t *uploadTable) bounds() (maxBytes int64, stale time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.maxBytes, t.stale
}

// commitUpload is the final step: read the parts back in order, check
// them, and only then write the metadata that makes them the object.
func (c *Controller) commitUpload(ctx context.Context, req messages.ArtifactUploadRequest, id string) (messages.ArtifactUploadResult, error) {
	var out messages.ArtifactUploadResult
	chunks := artifactChunkSubject(id)
	refuse := func(format string, a ...any) (messages.ArtifactUploadResult, error) {
		_ = c.purgeChunks(ctx, chunks)
		return out, &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf(format, a...)}
	}
	old, err := c.currentObject(ctx, req.Name)
	if err != nil {
		return out, err
	}
	if old != nil && old.NUID == id {
		return out, &messages.Error{Code: messages.CodeConflict, Message: fmt.Sprintf("upload id of %s was already used; start a new upload", req.Name)}
	}
	stream, err := c.js.Stream(ctx, "OBJ_"+messages.ArtifactBucket)
	if err != nil {
		return out, fmt.Errorf("open the artifact stream: %w", err)
	}
	maxBytes, stale := c.uploads.bounds()
	sum, size, n, last, err := c.storedParts(ctx, stream, id)
	if err != nil {
		return out, err
	}
	if sum == nil {
		if sum, size, n, last, err = c.readBackParts(ctx, stream, req.Name, chunks, maxBytes); err != nil {
			if e := messages.AsError(err); e != nil && e.Code == messages.CodeBadRequest {
				_ = c.purgeChunks(ctx, chunks)
			}
			return out, err
		}
	}
	// The sweep purges chunks left alone for stale; one half as old is
	// safe from it while this step commits.
	if n > 0 && time.Since(last) > stale/2 {
		return refuse("the upload of %s paused too long between chunks; run the import again", req.Name)
	}
	if size != req.Size || hex.EncodeToString(sum) != req.SHA256 {
		return refuse("the upload of %s arrived as %d bytes with another digest than the %d bytes sent; run the import again", req.Name, size, req.Size)
	}
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: req.Name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: messages.ArtifactUploadChunkBytes}},
		Bucket:     messages.ArtifactBucket, NUID: id, Size: uint64(size), Chunks: n,
		Digest: "SHA-256=" + base64.URLEncoding.EncodeToString(sum),
	}
	meta := nats.NewMsg(artifactMetaSubject(req.Name))
	meta.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if meta.Data, err = json.Marshal(info); err != nil {
		return out, err
	}
	if _, err := c.js.PublishMsg(ctx, meta); err != nil {
		return out, fmt.Errorf("store artifact %s: %w", req.Name, err)
	}
	if old != nil && !old.Deleted {
		_ = c.purgeChunks(ctx, artifactChunkSubject(old.NUID))
	}
	out.Size, out.SHA256 = size, req.SHA256
	return out, nil
}

// storedParts is the digest, size and part count of upload id when this
// controller stored every part itself, in order, and the stream holds
// exactly those (no other controller added one, no sweep removed one);
// otherwise sum is nil and the parts must be read back.
func (c *Controller) storedParts(ctx context.Context, stream jetstream.Stream, id string) (sum []byte, size int64, n uint32, last time.Time, err error) {
	parts, size, sum, last, ok := c.uploads.storedHere(id)
	if !ok || parts == 0 {
		return nil, 0, 0, time.Time{}, nil
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(artifactChunkSubject(id)))
	if err != nil {
		return nil, 0, 0, time.Time{}, fmt.Errorf("open the artifact stream: %w", err)
	}
	if info.State.Subjects[artifactChunkSubject(id)] != uint64(parts) {
		return nil, 0, 0, time.Time{}, nil
	}
	return sum, size, uint32(parts), last, nil
}

// readBackParts reads an upload's chunks back in stream order, refusing
// parts out of order, missing or twice, and more than maxBytes.
func (c *Controller) readBackParts(ctx context.Context, stream jetstream.Stream, name, chunks string, maxBytes int64) (sum []byte, size int64, n uint32, last time.Time, err error) {
	refuse := func(format string, a ...any) ([]byte, int64, uint32, time.Time, error) {
		return nil, 0, 0, time.Time{}, &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf(format, a...)}
	}
	h := sha256.New()
	for seq := uint64(1); ; n++ {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(chunks))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return h.Sum(nil), size, n, last, nil
		}
		if err != nil {
			return nil, 0, 0, time.Time{}, fmt.Errorf("read back %s: %w", name, err)
		}
		if m.Header.Get(headerUploadPart) != strconv.Itoa(int(n)) {
			return refuse("the chunks of %s were stored out of order or twice; run the import again", name)
		}
		h.Write(m.Data)
		size += int64(len(m.Data))
		if size > maxBytes {
			return refuse("artifact %s is over the %d-byte limit; upload a smaller file", name, maxBytes)
		}
		last, seq = m.Time, m.Sequence+1
	}
}

// currentObject is the stored object called name, deleted ones included,
// or nil.
func (c *Controller) currentObject(ctx context.Context, name string) (*jetstream.ObjectInfo, error) {
	obs, err := c.artifacts(ctx)
	if err != nil {
		return nil, err
	}
	old, err := obs.GetInfo(ctx, name, jetstream.GetObjectInfoShowDeleted())
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read artifact %s: %w", name, err)
	}
	return old, nil
}

func (c *Controller) purgeChunks(ctx context.Context, subject string) error {
	s, err := c.js.Stream(ctx, "OBJ_"+messages.ArtifactBucket)
	if err != nil {
		return fmt.Errorf("open the artifact stream: %w", err)
	}
	return s.Purge(ctx, jetstream.WithPurgeSubject(subject))
}

// sweepUploads purges the chunks of uploads nobody finished: chunk
// subjects of operator uploads that no object refers to and whose last
// chunk is older than the stale bound, whichever controller stored them
// and whether or not it was restarted since. It also forgets uploads
// this controller has not seen a step of for as long.
func (c *Controller) sweepUploads(ctx context.Context) error {
	_, stale := c.uploads.bounds()
	c.uploads.mu.Lock()
	for id, u := range c.uploads.m {
		if time.Since(u.last) > stale {
			delete(c.uploads.m, id)
		}
	}
	c.uploads.mu.Unlock()

	obs, err := c.artifacts(ctx)
	if err != nil {
		return err
	}
	stream, err := c.js.Stream(ctx, "OBJ_"+messages.ArtifactBucket)
	if err != nil {
		return fmt.Errorf("open the artifact stream: %w", err)
	}
	// A wildcard is a whole token: list every object's chunks, keep the
	// uploads'.
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(artifactChunkSubject("*")))
	if err != nil {
		return fmt.Errorf("list artifact uploads: %w", err)
	}
	if len(info.State.Subjects) == 0 {
		return nil
	}
	used := map[string]bool{}
	infos, err := obs.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return fmt.Errorf("list artifacts: %w", err)
	}
	for _, o := range infos {
		used[o.NUID] = true
	}
	for subject := range info.State.Subjects {
		id := strings.TrimPrefix(subject, artifactChunkSubject(""))
		if used[id] || !strings.HasPrefix(id, uploadChunkPrefix) {
			continue
		}
		last, err := stream.GetLastMsgForSubject(ctx, subject)
		if err != nil || time.Since(last.Time) <= stale {
			continue
		}
		if err := c.purgeChunks(ctx, subject); err != nil {
			return err
		}
		c.logger.Info("stale artifact upload purged", "chunks", info.State.Subjects[subject], "last_chunk", last.Time)
	}
	return nil
}

// runUploadSweeps sweeps stale uploads until ctx ends.
func (c *Controller) runUploadSweeps(ctx context.Context) {
	_, stale := c.uploads.bounds()
	t := time.NewTicker(min(max(stale/2, time.Second), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := c.sweepUploads(sctx); err != nil && ctx.Err() == nil {
				c.logger.Warn("artifact upload sweep", "err", err)
			}
			cancel()
		}
	}
}

// ArtifactChunks serves an operator's read of an artifact
// (messages.APIArtifactChunks) as the agents' reads are served, in one
// answer on the operator's own inbox.
func (c *Controller) ArtifactChunks(ctx context.Context, req messages.ArtifactChunkRequest) (messages.ArtifactChunksResult, error) {
	var out messages.ArtifactChunksResult
	if err := messages.ValidArtifactChunkRequest(req); err != nil {
		return out, err
	}
	// A read changes nothing; it is not audited chunk by chunk.
	noteUnchanged(ctx)
	ctx, cancel := context.WithTimeout(ctx, artifactServeWithin)
	defer cancel()
	end, err := c.artifactChunks(ctx, req, func(seq uint64, data []byte) error {
		out.Chunks = append(out.Chunks, messages.ArtifactChunk{Seq: seq, Data: data})
		return nil
	})
	out.End = end == messages.ArtifactEndEOF
	return out, err
}
