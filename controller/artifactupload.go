package controller

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// UploadArtifact stores one step of an operator's upload
// (messages.APIArtifactUpload). Chunks go straight into the artifact
// stream under the upload's own chunk subject, in the object store's
// format, so any controller of a cluster can take any step; the final
// step reads them back, checks the size and digest the client claims,
// and writes the object's metadata, which makes the upload the object
// and drops the chunks of the object it replaces (what the object store
// client's Put does). Like before, the upload is inert until
// ImportArtifact signs it.
func (c *Controller) UploadArtifact(ctx context.Context, req messages.ArtifactUploadRequest) (messages.ArtifactUploadResult, error) {
	var out messages.ArtifactUploadResult
	if err := messages.ValidArtifactUpload(req); err != nil {
		return out, err
	}
	chunks := "$O." + messages.ArtifactBucket + ".C." + req.Upload
	if !req.Done {
		// An upload is audited once, by its final step.
		noteUnchanged(ctx)
		if req.Abort {
			return out, c.purgeChunks(ctx, chunks)
		}
		if _, err := c.js.Publish(ctx, chunks, req.Chunk); err != nil {
			return out, fmt.Errorf("store a chunk of %s: %w", req.Name, err)
		}
		return out, nil
	}
	h := sha256.New()
	var size int64
	var n uint32
	stream := "OBJ_" + messages.ArtifactBucket
	for seq := uint64(0); ; {
		m, err := c.msgGet(ctx, stream, jsMsgGet{Seq: seq + 1, NextFor: chunks})
		if errors.Is(err, errNoMsg) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("read back %s: %w", req.Name, err)
		}
		h.Write(m.Data)
		size += int64(len(m.Data))
		n++
		seq = m.Seq
		if size > messages.MaxArtifactBytes {
			_ = c.purgeChunks(ctx, chunks)
			return out, &messages.Error{Code: messages.CodeTooLarge, Message: fmt.Sprintf("artifact %s is over the %d-byte limit", req.Name, messages.MaxArtifactBytes)}
		}
	}
	sum := h.Sum(nil)
	if size != req.Size || hex.EncodeToString(sum) != req.SHA256 {
		_ = c.purgeChunks(ctx, chunks)
		return out, &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf("the upload of %s arrived as %d bytes with another digest than the %d bytes sent; run the import again", req.Name, size, req.Size)}
	}
	obs, err := c.artifacts(ctx)
	if err != nil {
		return out, err
	}
	old, err := obs.GetInfo(ctx, req.Name, jetstream.GetObjectInfoShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return out, fmt.Errorf("read artifact %s: %w", req.Name, err)
	}
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: req.Name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: messages.ArtifactUploadChunkBytes}},
		Bucket:     messages.ArtifactBucket, NUID: req.Upload, Size: uint64(size), Chunks: n,
		Digest: "SHA-256=" + base64.URLEncoding.EncodeToString(sum),
	}
	meta := nats.NewMsg("$O." + messages.ArtifactBucket + ".M." + base64.URLEncoding.EncodeToString([]byte(req.Name)))
	meta.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if meta.Data, err = json.Marshal(info); err != nil {
		return out, err
	}
	if _, err := c.js.PublishMsg(ctx, meta); err != nil {
		return out, fmt.Errorf("store artifact %s: %w", req.Name, err)
	}
	if old != nil && !old.Deleted && old.NUID != req.Upload {
		_ = c.purgeChunks(ctx, "$O."+messages.ArtifactBucket+".C."+old.NUID)
	}
	out.Size, out.SHA256 = size, req.SHA256
	return out, nil
}

func (c *Controller) purgeChunks(ctx context.Context, subject string) error {
	s, err := c.js.Stream(ctx, "OBJ_"+messages.ArtifactBucket)
	if err != nil {
		return fmt.Errorf("open the artifact stream: %w", err)
	}
	return s.Purge(ctx, jetstream.WithPurgeSubject(subject))
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
