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
// with as many chunks in flight as the controller's first answer allows
// (a window hides the round trip per chunk); the controller checks the
// whole against the size and digest sent last, and discards what it got
// when the upload fails half way. The upload is inert until
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
	base := messages.ArtifactUploadRequest{Name: name, Upload: rand.Text()}
	sent, err := c.sendChunks(ctx, base, r)
	if err != nil {
		if sent {
			// Sent after every chunk on the same connection, so the
			// controller takes it after them.
			a := base
			a.Abort = true
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if body, err := messages.EncodeArtifactUploadRequest(a); err == nil {
				_, _ = call[rawBody, messages.ArtifactUploadResult](actx, c, messages.APIArtifactUpload, body)
			}
			cancel()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errUploadForbidden) {
			return err
		}
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return nil
}

// errUploadForbidden is the whole answer to a read-only operator's upload.
var errUploadForbidden = errors.New("your operator role may not upload artifacts; ask an admin to run foundry artifact import")

// uploadStepWait bounds the wait for the answer to one upload step.
const uploadStepWait = 2 * time.Minute

func uploadErr(err error) error {
	if err != nil && strings.HasPrefix(err.Error(), "your operator role may not call") {
		return errUploadForbidden
	}
	return err
}

// sendChunks sends r in chunks, then the final step, and says whether
// any step was sent (so the caller knows to abort on failure). Chunks are
// published from this goroutine, so they reach the controller in order;
// up to the controller's window of them await their answers at once.
func (c *Client) sendChunks(ctx context.Context, base messages.ArtifactUploadRequest, r io.Reader) (bool, error) {
	var pending []*pendingCall[messages.ArtifactUploadResult]
	defer func() {
		for _, p := range pending { // left unanswered after a failure
			p.stop()
			_ = p.sub.Unsubscribe()
		}
	}()
	window := 1 // until the controller's first answer says more
	wait := func() error {
		p := pending[0]
		pending = pending[1:]
		wctx, cancel := context.WithTimeout(ctx, uploadStepWait)
		defer cancel()
		res, err := p.wait(wctx)
		if err != nil {
			return uploadErr(err)
		}
		window = min(max(res.Window, 1), messages.MaxArtifactUploadWindow)
		return nil
	}
	h := sha256.New()
	var size int64
	buf := make([]byte, messages.ArtifactUploadChunkBytes)
	for part := 0; ; part++ {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if size+int64(n) > messages.MaxArtifactBytes {
				return part > 0, fmt.Errorf("the file is over the %d-byte artifact limit; import a smaller one", int64(messages.MaxArtifactBytes))
			}
			h.Write(buf[:n])
			size += int64(n)
			req := base
			req.Part, req.Chunk = part, buf[:n]
			body, err := messages.EncodeArtifactUploadRequest(req)
			if err != nil {
				return part > 0, err
			}
			p, err := sendCall[rawBody, messages.ArtifactUploadResult](c, messages.APIArtifactUpload, body)
			if err != nil {
				return part > 0, uploadErr(err)
			}
			pending = append(pending, p)
			for len(pending) >= window {
				if err := wait(); err != nil {
					return true, err
				}
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return part > 0, rerr
		}
	}
	for len(pending) > 0 {
		if err := wait(); err != nil {
			return true, err
		}
	}
	final := base
	final.Done, final.Size, final.SHA256 = true, size, hex.EncodeToString(h.Sum(nil))
	fctx, cancel := context.WithTimeout(ctx, uploadStepWait)
	defer cancel()
	body, err := messages.EncodeArtifactUploadRequest(final)
	if err != nil {
		return true, err
	}
	_, err = call[rawBody, messages.ArtifactUploadResult](fctx, c, messages.APIArtifactUpload, body)
	return true, uploadErr(err)
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
