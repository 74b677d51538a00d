package controller

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// InternalConn exposes the controller's unrestricted connection so tests
// can play an attacker who got onto the command subjects.
func (c *Controller) InternalConn() *nats.Conn { return c.nc }

// Signer exposes the real signing key so tests can build expired and
// replayed commands that are otherwise valid.
func (c *Controller) Signer() *messages.Signer { return c.keys.current() }

// AgentKeys are the public keys enrolled for host.
func (c *Controller) AgentKeys(host string) []string { return c.agentIdentities(host) }

// StreamReadsWaiting is how many stream reads (events and audit follows)
// are waiting on the controller for news.
func (c *Controller) StreamReadsWaiting() int64 { return c.readsWaiting.Load() }

// APIRequestsDropped is how many API requests the controller dropped
// because their reply subject was not the sender's inbox.
func (c *Controller) APIRequestsDropped() uint64 { return c.apiDropped.Load() }

// SetUploadBounds changes the upload bounds: uploads at once, bytes per
// upload, and how long an untouched upload lives.
func (c *Controller) SetUploadBounds(maxUploads int, maxBytes int64, stale time.Duration) {
	c.uploads.mu.Lock()
	defer c.uploads.mu.Unlock()
	c.uploads.max, c.uploads.maxBytes, c.uploads.stale = maxUploads, maxBytes, stale
}

// SweepUploads runs the stale upload sweep now.
func (c *Controller) SweepUploads(ctx context.Context) error { return c.sweepUploads(ctx) }

// UploadChunks is how many chunks of operator uploads (committed or not)
// the artifact stream holds.
func (c *Controller) UploadChunks(ctx context.Context) (uint64, error) {
	s, err := c.js.Stream(ctx, "OBJ_"+messages.ArtifactBucket)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(artifactChunkSubject("*")))
	if err != nil {
		return 0, err
	}
	var n uint64
	for subject, k := range info.State.Subjects {
		if strings.HasPrefix(subject, artifactChunkSubject(uploadChunkPrefix)) {
			n += k
		}
	}
	return n, nil
}

// SetUploadWindow changes how many chunk steps clients may pipeline.
func (c *Controller) SetUploadWindow(n int) {
	c.uploads.mu.Lock()
	defer c.uploads.mu.Unlock()
	c.uploads.window = n
}
