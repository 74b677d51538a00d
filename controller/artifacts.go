package controller

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// artifactStore is the artifacts object store, opened on first use.
type artifactStore struct {
	mu  sync.Mutex
	obs jetstream.ObjectStore
}

func (c *Controller) artifacts(ctx context.Context) (jetstream.ObjectStore, error) {
	c.arts.mu.Lock()
	defer c.arts.mu.Unlock()
	if c.arts.obs != nil {
		return c.arts.obs, nil
	}
	obs, err := c.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: messages.ArtifactBucket, Description: "signed component artifacts",
		Storage: jetstream.FileStorage, Replicas: max(1, c.opts.Replicas),
	})
	if err != nil {
		return nil, fmt.Errorf("open artifact store: %w", err)
	}
	c.arts.obs = obs
	return obs, nil
}

// ImportArtifact signs files an admin has put into the artifact store.
// The controller reads the stored bytes itself and signs their digest, so
// the signature covers what agents will fetch, not what a client claims.
func (c *Controller) ImportArtifact(ctx context.Context, req messages.ArtifactImportRequest) (messages.ArtifactListResult, error) {
	var out messages.ArtifactListResult
	if err := messages.ValidComponent(req.Component); err != nil {
		return out, err
	}
	if err := messages.ValidVersion(req.Version); err != nil {
		return out, err
	}
	if len(req.Files) == 0 || len(req.Files) > 64 {
		return out, &messages.Error{Code: messages.CodeBadRequest, Message: "import names 1 to 64 files"}
	}
	obs, err := c.artifacts(ctx)
	if err != nil {
		return out, err
	}
	for _, f := range req.Files {
		if err := messages.ValidFileName(f); err != nil {
			return out, err
		}
		a, err := c.signArtifact(ctx, obs, req.Component, req.Version, f)
		if err != nil {
			return out, err
		}
		out.Artifacts = append(out.Artifacts, a)
	}
	return out, nil
}

func (c *Controller) signArtifact(ctx context.Context, obs jetstream.ObjectStore, component, version, file string) (messages.Artifact, error) {
	name := messages.ArtifactObjectName(component, version, file)
	r, err := obs.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return messages.Artifact{}, &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf("artifact %s was not uploaded; run foundry artifact import %s %s <file>", name, component, version)}
	}
	if err != nil {
		return messages.Artifact{}, fmt.Errorf("read artifact %s: %w", name, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return messages.Artifact{}, fmt.Errorf("read artifact %s: %w", name, err)
	}
	if n > messages.MaxArtifactBytes {
		return messages.Artifact{}, &messages.Error{Code: messages.CodeTooLarge, Message: fmt.Sprintf("artifact %s is %d bytes, over the %d limit", name, n, messages.MaxArtifactBytes)}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	kid, sig := c.keys.current().SignBytes(messages.ArtifactSigningBytes(component, version, file, n, sum))
	info, err := r.Info()
	if err != nil {
		return messages.Artifact{}, fmt.Errorf("read artifact %s: %w", name, err)
	}
	meta := info.ObjectMeta
	if meta.Metadata == nil {
		meta.Metadata = map[string]string{}
	}
	meta.Metadata[messages.ArtifactMetaSHA256] = sum
	meta.Metadata[messages.ArtifactMetaSize] = strconv.FormatInt(n, 10)
	meta.Metadata[messages.ArtifactMetaKeyID] = kid
	meta.Metadata[messages.ArtifactMetaSig] = base64.StdEncoding.EncodeToString(sig)
	if err := obs.UpdateMeta(ctx, name, meta); err != nil {
		return messages.Artifact{}, fmt.Errorf("record signature of %s: %w", name, err)
	}
	c.logger.Info("artifact signed", "artifact", name, "sha256", sum, "size", n, "kid", kid)
	info, err = obs.GetInfo(ctx, name)
	if err != nil {
		return messages.Artifact{}, fmt.Errorf("read artifact %s: %w", name, err)
	}
	return c.artifactFromInfo(info), nil
}

// ListArtifacts lists the store. Each entry is checked cheaply: the
// signature must verify and the store's own digest of the bytes must be
// the signed one, so bytes replaced after import show as not verified.
func (c *Controller) ListArtifacts(ctx context.Context, req messages.ArtifactListRequest) (messages.ArtifactListResult, error) {
	out := messages.ArtifactListResult{Artifacts: []messages.Artifact{}}
	obs, err := c.artifacts(ctx)
	if err != nil {
		return out, err
	}
	infos, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("list artifacts: %w", err)
	}
	for _, info := range infos {
		a := c.artifactFromInfo(info)
		if (req.Component != "" && a.Component != req.Component) || (req.Version != "" && a.Version != req.Version) {
			continue
		}
		out.Artifacts = append(out.Artifacts, a)
	}
	sort.Slice(out.Artifacts, func(i, j int) bool {
		return out.Artifacts[i].ObjectName() < out.Artifacts[j].ObjectName()
	})
	return out, nil
}

func (c *Controller) artifactFromInfo(info *jetstream.ObjectInfo) messages.Artifact {
	a := messages.Artifact{Imported: info.ModTime.UnixMilli()}
	parts := strings.SplitN(info.Name, "/", 3)
	if len(parts) == 3 {
		a.Component, a.Version, a.File = parts[0], parts[1], parts[2]
	}
	md := info.Metadata
	a.SHA256, a.KeyID = md[messages.ArtifactMetaSHA256], md[messages.ArtifactMetaKeyID]
	a.Size, _ = strconv.ParseInt(md[messages.ArtifactMetaSize], 10, 64)
	a.Sig, _ = base64.StdEncoding.DecodeString(md[messages.ArtifactMetaSig])
	a.Problem = c.artifactProblem(info, a)
	a.Verified = a.Problem == ""
	return a
}

func (c *Controller) artifactProblem(info *jetstream.ObjectInfo, a messages.Artifact) string {
	if len(a.Sig) == 0 {
		return fmt.Sprintf("not signed; run foundry artifact import %s %s <file>", a.Component, a.Version)
	}
	if err := c.keys.verifier().VerifyBytes(a.KeyID, messages.ArtifactSigningBytes(a.Component, a.Version, a.File, a.Size, a.SHA256), a.Sig); err != nil {
		return "signature: " + err.Error()
	}
	raw, err := hex.DecodeString(a.SHA256)
	if err != nil || "SHA-256="+base64.URLEncoding.EncodeToString(raw) != info.Digest || int64(info.Size) != a.Size {
		return "stored bytes differ from the signed ones; re-import the artifact"
	}
	return ""
}
