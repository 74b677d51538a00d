package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// ErrArtifactNotFound is returned by a Source for a name it does not hold.
var ErrArtifactNotFound = errors.New("artifact not found")

// Source hands out artifact bytes by object name. Nothing it returns is
// trusted: FetchArtifact checks every byte against the signed digest.
type Source interface {
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// Dialer opens a NATS connection that may read the artifact store.
type Dialer func(ctx context.Context) (*nats.Conn, error)

// ObjectStore is the Source of an agent: the controller's artifact object
// store, read over a connection of its own for each fetch, which Dial
// opens and Close of the returned reader closes (it must use the agent's
// inbox prefix, the only one its permissions let it subscribe to).
type ObjectStore struct {
	Dial Dialer
	// Stall aborts a read that gets no byte for this long (default
	// DefaultFetchStall): a controller that dies mid-transfer must not
	// hold the component's lock until the command expires.
	Stall time.Duration
}

// DefaultFetchStall is ObjectStore's default stall limit.
const DefaultFetchStall = 30 * time.Second

// Open implements Source.
func (o ObjectStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	nc, err := o.Dial(ctx)
	if err != nil {
		return nil, err
	}
	// nats.go's object reader holds its lock while it waits for data, up
	// to its context's deadline (the command's: minutes away), so closing
	// it from another goroutine, as a stall does, waited as long. Without a
	// deadline it wakes every few seconds to look at its context; so the
	// read runs under a context that is only cancelled: with the caller's,
	// when the connection closes (the controller went away; a fetch does
	// not reconnect), or by Close.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &connReader{nc: nc, cancel: cancel}
	closed := nc.StatusChanged(nats.CLOSED)
	go func() {
		defer cancel()
		select {
		case <-closed:
			c.lost.Store(true)
		case <-ctx.Done():
		case <-rctx.Done():
		}
	}()
	c.ReadCloser, err = openObject(rctx, nc, name)
	if err != nil {
		c.cancel()
		nc.Close()
		return nil, err
	}
	stall := o.Stall
	if stall <= 0 {
		stall = DefaultFetchStall
	}
	return NewStallReader(c, stall), nil
}

// openObject starts reading object name from the controller (see
// messages.ArtifactGetPrefix): the first chunks are asked for at once, so
// an object that is not there is ErrArtifactNotFound here.
func openObject(ctx context.Context, nc *nats.Conn, name string) (io.ReadCloser, error) {
	host, ok := strings.CutPrefix(nc.Opts.Name, "foundry-agent-fetch:")
	if !ok {
		return nil, fmt.Errorf("the fetch connection is not named %q", messages.AgentFetchConnName("<host>"))
	}
	subj, err := messages.ArtifactGetSubject(host)
	if err != nil {
		return nil, err
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("subscribe for the artifact's bytes: %w", err)
	}
	_ = sub.SetPendingLimits(4*messages.MaxArtifactChunksPerRequest, -1)
	r := &chunkReader{ctx: ctx, nc: nc, sub: sub, subj: subj, inbox: inbox, name: name}
	if err := r.fill(); err != nil {
		_ = sub.Unsubscribe()
		if messages.CodeOf(err) == messages.CodeNotFound {
			return nil, ErrArtifactNotFound
		}
		return nil, err
	}
	return r, nil
}

// chunkReader reads an object from the controller a batch of chunks at a
// time, asking for the next batch only when the last one is used up.
type chunkReader struct {
	ctx   context.Context
	nc    *nats.Conn
	sub   *nats.Subscription
	subj  string
	inbox string
	name  string
	after uint64
	buf   []byte
	eof   bool
	asked bool // the next batch was asked for
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// ask requests the chunks after r.after.
func (r *chunkReader) ask() error {
	req, _ := json.Marshal(messages.ArtifactChunkRequest{Name: r.name, After: r.after, Max: messages.MaxArtifactChunksPerRequest})
	if err := r.nc.PublishRequest(r.subj, r.inbox, req); err != nil {
		return r.broken("ask for", err)
	}
	r.asked = true
	return nil
}

// fill reads the next batch up to its trailer, asking for it first unless
// it was asked for already; at a "more" trailer it asks for the batch
// after, so the controller reads it while this one is consumed (one batch
// ahead at most).
func (r *chunkReader) fill() error {
	if !r.asked {
		if err := r.ask(); err != nil {
			return err
		}
	}
	r.asked = false
	for {
		m, err := r.sub.NextMsgWithContext(r.ctx)
		if err != nil {
			return r.broken("read", err)
		}
		if e := m.Header.Get(messages.HeaderArtifactError); e != "" {
			var we messages.Error
			if json.Unmarshal([]byte(e), &we) != nil || we.Code == "" {
				return fmt.Errorf("read %s: the controller answered %q", r.name, e)
			}
			return &we
		}
		if end := m.Header.Get(messages.HeaderArtifactEnd); end != "" {
			r.eof = end == messages.ArtifactEndEOF
			if !r.eof {
				return r.ask()
			}
			return nil
		}
		seq, err := strconv.ParseUint(m.Header.Get(messages.HeaderArtifactSeq), 10, 64)
		if err != nil || seq <= r.after {
			return fmt.Errorf("read %s: a chunk came out of order", r.name)
		}
		r.after = seq
		r.buf = append(r.buf, m.Data...)
	}
}

// broken says that the connection went away when it did, whichever call
// noticed first.
func (r *chunkReader) broken(what string, err error) error {
	if r.nc.IsClosed() || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("%s %s: the connection to the controller closed during the transfer (%v)", what, r.name, err)
	}
	return fmt.Errorf("%s %s: %w", what, r.name, err)
}

func (r *chunkReader) Close() error { return r.sub.Unsubscribe() }

// connReader closes the fetch's connection with the object reader, and
// says so when the connection went away under a read.
type connReader struct {
	io.ReadCloser
	nc     *nats.Conn
	cancel func() // wakes a read that waits for data
	lost   atomic.Bool
}

func (c *connReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && err != io.EOF && c.lost.Load() {
		err = fmt.Errorf("the connection to the controller closed during the transfer (%v)", err)
	}
	return n, err
}

func (c *connReader) Close() error {
	c.cancel()
	err := c.ReadCloser.Close()
	c.nc.Close()
	return err
}

// stallReader closes its source when no byte arrived for limit, so a
// read blocked on a dead connection returns an error instead of waiting.
type stallReader struct {
	rc      io.ReadCloser
	limit   time.Duration
	last    atomic.Int64 // unix nanos of the last progress
	stalled atomic.Bool
	once    sync.Once
	stop    chan struct{}
}

// NewStallReader wraps rc; Close stops the watch.
func NewStallReader(rc io.ReadCloser, limit time.Duration) io.ReadCloser {
	s := &stallReader{rc: rc, limit: limit, stop: make(chan struct{})}
	s.last.Store(time.Now().UnixNano())
	go s.watch()
	return s
}

func (s *stallReader) watch() {
	t := time.NewTicker(max(s.limit/10, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if now.UnixNano()-s.last.Load() > int64(s.limit) {
				s.stalled.Store(true)
				s.Close()
				return
			}
		}
	}
}

func (s *stallReader) Read(b []byte) (int, error) {
	n, err := s.rc.Read(b)
	if n > 0 {
		s.last.Store(time.Now().UnixNano())
	}
	if err != nil && s.stalled.Load() {
		err = fmt.Errorf("no data for %s, the transfer stalled", s.limit)
	}
	return n, err
}

func (s *stallReader) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		err = s.rc.Close()
	})
	return err
}

func importHint(ref messages.ArtifactRef) string {
	return fmt.Sprintf("foundry artifact import %s %s <file>", ref.Component, ref.Version)
}

// VerifyRef checks the controller's signature over the artifact's name,
// size and digest against the keys this host trusts.
func VerifyRef(v *messages.Verifier, ref messages.ArtifactRef) error {
	if len(ref.Sig) == 0 || ref.KeyID == "" {
		return &messages.Error{Code: messages.CodeUnsigned, Message: fmt.Sprintf(
			"artifact %s is not signed; sign it with %s", ref.ObjectName(), importHint(ref))}
	}
	msg := messages.ArtifactSigningBytes(ref.Component, ref.Version, ref.File, ref.Size, ref.SHA256)
	if err := v.VerifyBytes(ref.KeyID, msg, ref.Sig); err != nil {
		return &messages.Error{Code: messages.CodeOf(err), Message: fmt.Sprintf(
			"artifact %s: %s; re-import it with %s so the controller signs it with a key this host trusts",
			ref.ObjectName(), err.Error(), importHint(ref))}
	}
	return nil
}

// FetchArtifact installs the artifact ref as dst, all or nothing: it
// checks the signature first (nothing is fetched for a bad one), streams
// the bytes into a temporary file in dst's directory while hashing them,
// and only when size and sha256 are the signed ones makes it executable
// (0755), syncs it and renames it into place. On any failure nothing is
// left behind. dst's directory must exist.
func FetchArtifact(ctx context.Context, src Source, v *messages.Verifier, ref messages.ArtifactRef, dst string) error {
	if err := VerifyRef(v, ref); err != nil {
		return err
	}
	// A transfer that broke off (seen under load: the object reader's
	// "nats: timeout" with 1.5 MB of 129 MB to go) is tried again from
	// the start, a few times; nothing else is.
	var err error
	for attempt := 1; attempt <= fetchAttempts; attempt++ {
		err = fetchOnce(ctx, src, ref, dst)
		var bt brokenTransfer
		if !errors.As(err, &bt) {
			return err
		}
		err = bt.err
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

// brokenTransfer is a fetch whose bytes stopped coming: worth a retry.
type brokenTransfer struct{ err *messages.Error }

func (b brokenTransfer) Error() string { return b.err.Message }
func (b brokenTransfer) Unwrap() error { return b.err }

// fetchAttempts bounds the tries of a transfer that broke off.
const fetchAttempts = 3

func fetchOnce(ctx context.Context, src Source, ref messages.ArtifactRef, dst string) error {
	name := ref.ObjectName()
	r, err := src.Open(ctx, name)
	if errors.Is(err, ErrArtifactNotFound) {
		return &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf(
			"artifact %s is not in the artifact store; upload and sign it with %s", name, importHint(ref))}
	}
	if err != nil {
		return &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
			"artifact %s: %v; check the host's connection to the controller", name, err)}
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return hostError("artifact "+name, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	// One byte more than signed tells a longer object from an exact one.
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, ref.Size+1))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if errors.Is(err, jetstream.ErrDigestMismatch) {
			// nats.go checks the store's own digest at the end.
			return &messages.Error{Code: messages.CodeBadSignature, Message: fmt.Sprintf(
				"artifact %s: the stored bytes do not match the store's digest (%v); re-import it with %s", name, err, importHint(ref))}
		}
		return brokenTransfer{err: &messages.Error{Code: messages.CodeUnavailable, Message: fmt.Sprintf(
			"artifact %s: fetch failed after %d bytes: %v; check the host's connection to the controller and retry", name, n, err)}}
	}
	if n != ref.Size {
		what := "is"
		if n > ref.Size {
			what = "is more than"
		}
		return &messages.Error{Code: messages.CodeBadSignature, Message: fmt.Sprintf(
			"artifact %s: the fetched object %s %d bytes, the signed size is %d; re-import it with %s",
			name, what, min(n, ref.Size+1), ref.Size, importHint(ref))}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(ref.SHA256) {
		return &messages.Error{Code: messages.CodeBadSignature, Message: fmt.Sprintf(
			"artifact %s: sha256 of the fetched bytes is %s, the signed one is %s; re-import it with %s",
			name, got, strings.ToLower(ref.SHA256), importHint(ref))}
	}
	if err := tmp.Chmod(0o755); err != nil {
		return hostError("artifact "+name, err)
	}
	if err := tmp.Sync(); err != nil {
		return hostError("artifact "+name, err)
	}
	if err := tmp.Close(); err != nil {
		return hostError("artifact "+name, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return hostError("artifact "+name, err)
	}
	done = true
	return syncDir(filepath.Dir(dst))
}

// fileSHA256 is the hex digest of a file, "" when it does not exist.
func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}

// hostError is a local failure (disk, permissions) as a wire error.
func hostError(what string, err error) error {
	return &messages.Error{Code: messages.CodeInternal, Message: fmt.Sprintf("%s: %v; check disk space and permissions on the host", what, err)}
}
