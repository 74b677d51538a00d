package controller_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// BenchmarkArtifactImport imports a 64 MiB file (upload, then the
// controller's signing read) through the controller's upload endpoint,
// with the default window of chunks in flight (2), with 1 and with 4,
// against the path operators had before issue 20: the object store
// client's Put on a connection with JetStream access (here the
// controller's own, as operators no longer have any). Run with
//
//	go test -run '^$' -bench BenchmarkArtifactImport -benchtime 5x ./controller/
func BenchmarkArtifactImport(b *testing.B) {
	c := ct.StartController(b)
	cl := ct.Client(b, c)
	ctx := context.Background()
	data := randomBytes(b, 64<<20)
	obs, err := c.JetStream().ObjectStore(ctx, messages.ArtifactBucket)
	if err != nil {
		b.Fatal(err)
	}
	controllerPath := func(window int) func() error {
		return func() error {
			c.SetUploadWindow(window)
			return cl.UploadArtifact(ctx, "app", "1.0", "big", bytes.NewReader(data))
		}
	}
	for _, path := range []struct {
		name   string
		upload func() error
	}{
		{"controller", controllerPath(2)}, // the default window
		{"controller-window-1", controllerPath(1)},
		{"controller-window-4", controllerPath(messages.MaxArtifactUploadWindow)},
		{"object-store-put", func() error {
			_, err := obs.Put(ctx, jetstream.ObjectMeta{Name: messages.ArtifactObjectName("app", "1.0", "big")}, bytes.NewReader(data))
			return err
		}},
	} {
		for _, step := range []string{"upload", "upload+sign"} {
			b.Run(path.name+"/"+step, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if err := path.upload(); err != nil {
						b.Fatal(err)
					}
					if step == "upload" {
						continue
					}
					res, err := cl.ImportArtifact(ctx, messages.ArtifactImportRequest{Component: "app", Version: "1.0", Files: []string{"big"}})
					if err != nil || !res.Artifacts[0].Verified || res.Artifacts[0].Size != int64(len(data)) {
						b.Fatalf("import: %+v %v", res, err)
					}
				}
			})
		}
	}
}
