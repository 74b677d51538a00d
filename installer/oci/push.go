package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/foundry-fleet/foundry/installer/helm"
)

// Outcomes of one image's push.
const (
	Pushed    = "pushed"
	Present   = "present"    // the registry had this digest under the name
	WouldPush = "would push" // --dry-run
)

// Result is what happened to one image.
type Result struct {
	Source string `json:"source"`
	Image  string `json:"image"`  // as saved: docker.io/library/busybox:1.37
	Target string `json:"target"` // in the stack's registry
	Digest string `json:"digest"`
	Status string `json:"status"`
}

// Progress is a push's byte count for one image, as go-containerregistry
// reports it (blobs already in the registry count as done).
type Progress struct {
	Image          string
	Complete, Size int64
}

// Options change how Push works.
type Options struct {
	DryRun bool
	// Progress, when set, is called from the pushing goroutine as bytes
	// go out; it must not block for long.
	Progress func(Progress)
}

// Target is where ref goes in the registry at host: the same repository
// path under the mirror's host, the name helm.MirrorRef gives it.
func Target(r helm.Registry, ref name.Reference) (name.Reference, error) {
	var opts []name.Option
	if r.PlainHTTP {
		opts = append(opts, name.Insecure)
	}
	repo := r.Host + "/" + ref.Context().RepositoryStr()
	switch t := ref.(type) {
	case name.Tag:
		return name.NewTag(repo+":"+t.TagStr(), opts...)
	case name.Digest:
		return name.NewDigest(repo+"@"+t.DigestStr(), opts...)
	}
	return nil, fmt.Errorf("reference %s is neither a tag nor a digest", ref)
}

// Push pushes each image to the registry under its Target name, skipping
// those whose digest is already there. It stops at the first failure and
// returns the results so far.
func Push(ctx context.Context, r helm.Registry, imgs []Image, o Options) ([]Result, error) {
	rt, done := r.Transport(ctx)
	defer done()
	var auth authn.Authenticator = authn.Anonymous
	if r.Username != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: r.Username, Password: r.Password})
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt), remote.WithAuth(auth), remote.WithUserAgent("foundry")}
	var out []Result
	for _, img := range imgs {
		res, err := pushOne(ctx, r, img, o, ropts)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

func pushOne(ctx context.Context, r helm.Registry, img Image, o Options, ropts []remote.Option) (Result, error) {
	target, err := Target(r, img.Ref)
	if err != nil {
		return Result{}, err
	}
	res := Result{Source: img.Source, Image: img.Name(), Target: target.Name(), Digest: img.Digest}
	have, err := remote.Head(target, ropts...)
	switch {
	case err == nil && have.Digest.String() == img.Digest:
		res.Status = Present
		return res, nil
	case err != nil && !notFound(err):
		return Result{}, fmt.Errorf("ask the registry %s for %s: %w; check that it runs (foundry component status zot) or pass --registry", r.Host, target, err)
	}
	if o.DryRun {
		res.Status = WouldPush
		return res, nil
	}
	var updates chan v1.Update
	finished := make(chan struct{})
	if o.Progress != nil {
		updates = make(chan v1.Update, 16)
		go func() {
			defer close(finished)
			for u := range updates {
				if u.Error == nil {
					o.Progress(Progress{Image: img.Name(), Complete: u.Complete, Size: u.Total})
				}
			}
		}()
		ropts = append(ropts[:len(ropts):len(ropts)], remote.WithProgress(updates))
	} else {
		close(finished)
	}
	if img.index != nil {
		err = remote.WriteIndex(target, img.index, ropts...)
	} else {
		err = remote.Write(target, img.image, ropts...)
	}
	<-finished
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return Result{}, fmt.Errorf("push %s to %s: %w", img.Name(), target, err)
	}
	res.Status = Pushed
	return res, nil
}

// notFound reports whether err is the registry saying it has no such
// manifest (any other failure means it could not answer).
func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
