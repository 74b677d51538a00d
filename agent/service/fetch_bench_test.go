package service_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/agent/service"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// BenchmarkArtifactRead reads one 32 MiB object two ways in the same run:
// as an agent does (asking the controller, which serves chunks to the
// agent's inbox) and, as the baseline, the way agents did before: the
// object store's own reader, an ordered consumer (here on the
// controller's own connection: no operator may create one any more).
//
//	go test -run '^$' -bench BenchmarkArtifactRead -benchtime 5x ./agent/service/
func BenchmarkArtifactRead(b *testing.B) {
	c := ct.StartController(b)
	cl := ct.Client(b, c)
	cfg := ct.EnrollConfig(b, cl, c, "web-1", b.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	obs, err := c.JetStream().ObjectStore(ctx, messages.ArtifactBucket)
	if err != nil {
		b.Fatal(err)
	}
	const size = 32 << 20
	name := messages.ArtifactObjectName("bench", "1.0.0", "blob")
	if _, err := obs.PutBytes(ctx, name, randomBytes(size)); err != nil {
		b.Fatal(err)
	}
	read := func(b *testing.B, r io.ReadCloser, err error) {
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		r.Close()
		if err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
	b.Run("controller-served", func(b *testing.B) {
		src := service.ObjectStore{Dial: func(context.Context) (*nats.Conn, error) {
			nc, _, err := connectAs(cfg, messages.AgentFetchConnName(cfg.ID))
			return nc, err
		}}
		b.SetBytes(size)
		for b.Loop() {
			r, err := src.Open(ctx, name)
			read(b, r, err)
		}
	})
	b.Run("baseline-ordered-consumer", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			r, err := obs.Get(ctx, name)
			read(b, r, err)
		}
	})
}
