package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// UploadArtifact puts r into the artifact store as
// messages.ArtifactObjectName(component, version, file), replacing any
// earlier object of that name once every byte has arrived. The bytes go
// through the controller (messages.APIArtifactUpload), chunk by chunk,
// each answered before the next is sent; the controller checks the whole
// against the size and digest sent last. The upload is inert until
// ImportArtifact asks the controller to sign it.
func (c *Client) UploadArtifact(ctx context.Context, component, version, file string, r io.Reader) error {
	if err := messages.ValidComponent(component); err != nil {
		return err
	}
	if err := messages.ValidVersion(version); err != nil {
		return err
	}
	if err := messages.ValidFileName(file); err != nil {
		return err
	}
	name := messages.ArtifactObjectName(component, version, file)
	req := messages.ArtifactUploadRequest{Name: name, Upload: rand.Text()}
	step := func(req messages.ArtifactUploadRequest) error {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		_, err := call[messages.ArtifactUploadRequest, messages.ArtifactUploadResult](sctx, c, messages.APIArtifactUpload, req)
		if err != nil && strings.HasPrefix(err.Error(), "your operator role may not call") {
			return fmt.Errorf("your operator role may not upload artifacts; ask an admin to run foundry artifact import")
		}
		return err
	}
	abort := func(err error) error {
		a := req
		a.Chunk, a.Abort = nil, true
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = call[messages.ArtifactUploadRequest, messages.ArtifactUploadResult](actx, c, messages.APIArtifactUpload, a)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("upload %s: %w", name, err)
	}
	h := sha256.New()
	buf := make([]byte, messages.ArtifactUploadChunkBytes)
	var size int64
	sent := false
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
			req.Chunk = buf[:n]
			if err := step(req); err != nil {
				if !sent {
					return err // nothing stored yet
				}
				return abort(err)
			}
			sent = true
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			if sent {
				return abort(rerr)
			}
			return fmt.Errorf("upload %s: %w", name, rerr)
		}
	}
	req.Chunk, req.Done, req.Size, req.SHA256 = nil, true, size, hex.EncodeToString(h.Sum(nil))
	if err := step(req); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return nil
}

// ImportArtifact asks the controller to sign files already uploaded with
// UploadArtifact. The controller reads every byte back to digest it, so
// the request may take a while for large files.
func (c *Client) ImportArtifact(ctx context.Context, req messages.ArtifactImportRequest) (messages.ArtifactListResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return call[messages.ArtifactImportRequest, messages.ArtifactListResult](ctx, c, messages.APIArtifactImport, req)
}

// ListArtifacts lists the artifact store with each entry's verification.
func (c *Client) ListArtifacts(ctx context.Context, req messages.ArtifactListRequest) (messages.ArtifactListResult, error) {
	return call[messages.ArtifactListRequest, messages.ArtifactListResult](ctx, c, messages.APIArtifactList, req)
}

// maxDownload bounds what DownloadArtifact keeps in memory: charts, not
// binaries.
const maxDownload = 64 << 20

// DownloadArtifact reads an imported artifact (a Helm chart) through the
// controller (messages.APIArtifactChunks) and returns its bytes only if they are the
// ones the controller signed at import (size and sha256 of ref, which
// ListArtifacts gives with its signature checked).
func (c *Client) DownloadArtifact(ctx context.Context, ref messages.ArtifactRef) ([]byte, error) {
	if ref.Size <= 0 || ref.Size > maxDownload {
		return nil, fmt.Errorf("artifact %s is %d bytes; only artifacts up to %d bytes are read into the CLI", ref.ObjectName(), ref.Size, maxDownload)
	}
	b := make([]byte, 0, ref.Size)
	req := messages.ArtifactChunkRequest{Name: ref.ObjectName(), Max: messages.MaxArtifactChunksPerRequest}
	for {
		res, err := call[messages.ArtifactChunkRequest, messages.ArtifactChunksResult](ctx, c, messages.APIArtifactChunks, req)
		if err != nil {
			return nil, fmt.Errorf("read %s from the artifact store: %w", ref.ObjectName(), err)
		}
		for _, ch := range res.Chunks {
			if int64(len(b)+len(ch.Data)) > ref.Size {
				return nil, fmt.Errorf("artifact %s does not match what was signed at import; import it again", ref.ObjectName())
			}
			b = append(b, ch.Data...)
			req.After = ch.Seq
		}
		if res.End {
			break
		}
		if len(res.Chunks) == 0 {
			return nil, fmt.Errorf("read %s from the artifact store: the controller sent no chunk; retry", ref.ObjectName())
		}
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != ref.Size || !strings.EqualFold(hex.EncodeToString(sum[:]), ref.SHA256) {
		return nil, fmt.Errorf("artifact %s does not match what was signed at import; import it again", ref.ObjectName())
	}
	return b, nil
}
