package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// artifactStreamInfo is the first JetStream call an upload makes (opening
// the bucket). Operators without artifact write access are refused it, so
// watching it turns a silent timeout into an immediate answer.
var artifactStreamInfo = "$JS.API.STREAM.INFO.OBJ_" + messages.ArtifactBucket

// UploadArtifact puts r into the artifact object store as
// messages.ArtifactObjectName(component, version, file), replacing any
// earlier object of that name. The upload is inert until ImportArtifact
// asks the controller to sign it. The bucket must exist: the controller
// creates it when it starts.
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

	// A refused publish is reported asynchronously; cancel at once rather
	// than wait for the JetStream timeout.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var refused atomic.Bool
	watched := []string{artifactStreamInfo, "$O." + messages.ArtifactBucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name))}
	done := make(chan struct{})
	defer close(done)
	for _, s := range watched {
		ch, stop := c.watchDenied(s)
		defer stop()
		go func() {
			select {
			case <-ch:
				refused.Store(true)
				cancel()
			case <-done:
			}
		}()
	}
	deniedErr := func(err error) error {
		if refused.Load() || errors.Is(err, nats.ErrPermissionViolation) {
			return fmt.Errorf("your operator role may not upload artifacts; ask an admin to run foundry artifact import")
		}
		return nil
	}

	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	octx, ocancel := context.WithTimeout(rctx, 10*time.Second)
	obs, err := js.ObjectStore(octx, messages.ArtifactBucket)
	ocancel()
	if err != nil {
		if e := deniedErr(err); e != nil {
			return e
		}
		if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("the controller has no artifact store %s; upgrade the controller and start it with foundry controller run, which creates it", messages.ArtifactBucket)
		}
		return fmt.Errorf("open artifact store: %w", err)
	}
	if _, err := obs.Put(rctx, jetstream.ObjectMeta{Name: name}, r); err != nil {
		if e := deniedErr(err); e != nil {
			return e
		}
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

// DownloadArtifact reads an imported artifact (a Helm chart) with the
// operator's own connection and returns its bytes only if they are the
// ones the controller signed at import (size and sha256 of ref, which
// ListArtifacts gives with its signature checked).
func (c *Client) DownloadArtifact(ctx context.Context, ref messages.ArtifactRef) ([]byte, error) {
	if ref.Size <= 0 || ref.Size > maxDownload {
		return nil, fmt.Errorf("artifact %s is %d bytes; only artifacts up to %d bytes are read into the CLI", ref.ObjectName(), ref.Size, maxDownload)
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		return nil, err
	}
	obs, err := js.ObjectStore(ctx, messages.ArtifactBucket)
	if err != nil {
		return nil, fmt.Errorf("open the artifact store: %w", err)
	}
	b, err := obs.GetBytes(ctx, ref.ObjectName())
	if err != nil {
		return nil, fmt.Errorf("read %s from the artifact store: %w", ref.ObjectName(), err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != ref.Size || !strings.EqualFold(hex.EncodeToString(sum[:]), ref.SHA256) {
		return nil, fmt.Errorf("artifact %s does not match what was signed at import; import it again", ref.ObjectName())
	}
	return b, nil
}
