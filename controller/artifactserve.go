package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// Artifact serving bounds: how many requests the controller serves at
// once (more wait in the subscription's queue), and how long one may take.
const (
	artifactServers     = 8
	artifactServeWithin = 30 * time.Second
)

// artifactMaxConsumers bounds the consumers of the artifact stream. Only
// admins (artifact import, list) and the controller read it through
// JetStream; agents get bytes from serveArtifact.
const artifactMaxConsumers = 64

// Operators read the events and audit streams with consumers they create
// (events list and tail, audit list), and NATS does not check a push
// consumer's deliver subject against the creator's permissions. These
// bound what one credential can build up: consumers per stream, and a
// lifetime (a consumer nobody reads from is deleted after
// readerInactive; one asking for longer is refused). Ordered consumers,
// which the CLI uses, ask for exactly readerInactive.
const (
	readerMaxConsumers = 256
	readerInactive     = 5 * time.Minute
)

var readerConsumerLimits = jetstream.StreamConsumerLimits{InactiveThreshold: readerInactive}

// startArtifactServer answers agents' artifact requests
// (messages.ArtifactGetPrefix). An agent's fetch connection may publish
// only its own request subject and subscribe only to its own inbox, and
// the answer goes only to that inbox: a request whose reply subject is
// anywhere else is dropped, so no agent can have stream data delivered to
// another host's command subject, the broadcast, or anything else. The
// chunks are read with direct gets by the controller itself, so agents
// need no JetStream consumer and no JetStream API permission.
func (c *Controller) startArtifactServer() error {
	slots := make(chan struct{}, artifactServers)
	_, err := c.nc.QueueSubscribe(messages.ArtifactGetPrefix+".*", "artifacts", func(m *nats.Msg) {
		host, err := messages.ArtifactGetHost(m.Subject)
		if err != nil || !messages.InInbox(host, m.Reply) {
			if c.artDropped.Add(1)%1000 == 1 {
				c.logger.Warn("artifact request dropped: its reply subject is not the asking host's inbox", "subject", m.Subject, "reply", clipLog(m.Reply), "dropped", c.artDropped.Load())
			}
			return
		}
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			c.serveArtifact(host, m)
		}()
	})
	if err != nil {
		return fmt.Errorf("serve artifacts: %w", err)
	}
	return nil
}

func clipLog(s string) string {
	if len(s) > 128 {
		return s[:128]
	}
	return s
}

// serveArtifact answers one request: up to req.Max chunks after req.After,
// then a trailer saying whether more follow.
func (c *Controller) serveArtifact(host string, m *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), artifactServeWithin)
	defer cancel()
	fail := func(err error) {
		b, _ := json.Marshal(messages.AsError(err))
		out := nats.NewMsg(m.Reply)
		out.Header.Set(messages.HeaderArtifactError, string(b))
		_ = c.nc.PublishMsg(out)
	}
	req, err := messages.DecodeArtifactChunkRequest(m.Data)
	if err != nil {
		fail(err)
		return
	}
	end, err := c.artifactChunks(ctx, req, func(seq uint64, data []byte) error {
		out := nats.NewMsg(m.Reply)
		out.Header.Set(messages.HeaderArtifactSeq, strconv.FormatUint(seq, 10))
		out.Data = data
		return c.nc.PublishMsg(out)
	})
	if err != nil {
		if !errors.Is(err, errEmit) {
			fail(err)
		}
		return
	}
	out := nats.NewMsg(m.Reply)
	out.Header.Set(messages.HeaderArtifactEnd, end)
	_ = c.nc.PublishMsg(out)
}

// maxArtifactAnswerBytes bounds the chunk bytes of one answer, whatever
// the object's chunk size: an operator's answer is one API message
// (base64 in JSON, under messages.MaxAPIBytes), and an agent holds at most
// this much per batch.
const maxArtifactAnswerBytes = 4 << 20

// chunksPerAnswer is how many of info's chunks one answer carries: what
// was asked for, within maxArtifactAnswerBytes, and at least one.
func chunksPerAnswer(info *jetstream.ObjectInfo, asked int) int {
	size := 128 << 10 // the object store client's default
	if info.Opts != nil && info.Opts.ChunkSize > 0 {
		size = int(info.Opts.ChunkSize)
	}
	return max(1, min(asked, maxArtifactAnswerBytes/size))
}

// errEmit marks a failure to pass a chunk on, after which nothing more is
// sent.
var errEmit = errors.New("chunk not sent")

// artifactChunks reads up to req.Max chunks of req.Name after req.After,
// in order, passing each to emit, and says whether more follow
// (messages.ArtifactEndMore or ArtifactEndEOF).
func (c *Controller) artifactChunks(ctx context.Context, req messages.ArtifactChunkRequest, emit func(seq uint64, data []byte) error) (string, error) {
	obs, err := c.artifacts(ctx)
	if err != nil {
		return "", err
	}
	info, err := obs.GetInfo(ctx, req.Name)
	if errors.Is(err, jetstream.ErrObjectNotFound) || (err == nil && info.Deleted) {
		return "", &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf("artifact %s is not in the artifact store", req.Name)}
	}
	if err != nil {
		return "", fmt.Errorf("read artifact %s: %w", req.Name, err)
	}
	stream, err := c.js.Stream(ctx, "OBJ_"+messages.ArtifactBucket)
	if err != nil {
		return "", fmt.Errorf("open the artifact stream: %w", err)
	}
	chunks := "$O." + messages.ArtifactBucket + ".C." + info.NUID
	after, end := req.After, messages.ArtifactEndMore
	for range chunksPerAnswer(info, req.Max) {
		msg, err := stream.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(chunks))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			end = messages.ArtifactEndEOF
			break
		}
		if err != nil {
			return "", fmt.Errorf("read artifact %s: %w", req.Name, err)
		}
		if err := emit(msg.Sequence, msg.Data); err != nil {
			return "", errEmit
		}
		after = msg.Sequence
	}
	if end == messages.ArtifactEndMore && info.Chunks > 0 {
		// A last chunk needs no second request just to learn it was last.
		if _, err := stream.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(chunks)); errors.Is(err, jetstream.ErrMsgNotFound) {
			end = messages.ArtifactEndEOF
		}
	}
	return end, nil
}

// boundArtifactConsumers sets the artifact stream's max_consumers (the
// object store's own config has no such field).
func (c *Controller) boundArtifactConsumers(ctx context.Context) error {
	s, err := c.js.Stream(ctx, "OBJ_"+messages.ArtifactBucket)
	if err != nil {
		return fmt.Errorf("open the artifact stream: %w", err)
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxConsumers == artifactMaxConsumers && cfg.ConsumerLimits == readerConsumerLimits {
		return nil
	}
	cfg.MaxConsumers, cfg.ConsumerLimits = artifactMaxConsumers, readerConsumerLimits
	if _, err := c.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("bound the artifact stream's consumers: %w", err)
	}
	return nil
}
