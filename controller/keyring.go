package controller

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/controller/pki"
	"github.com/foundry-fleet/foundry/messages"
)

// RetiredKeysDir holds signing keys that are no longer current, inside the
// data directory. They sign nothing but trust updates for hosts that
// missed a rotation, so such a host is brought forward without an SSH
// visit.
const RetiredKeysDir = "signing-keys"

// keyring is the controller's command-signing keys: one current key that
// signs every command, and retired keys kept for trust updates only.
type keyring struct {
	dir string

	mu      sync.RWMutex
	cur     *messages.Signer
	retired map[string]*messages.Signer // key id -> signer

	rotating sync.Mutex // one rotation at a time
}

func loadKeyring(dir string) (*keyring, error) {
	key, err := loadOrCreateSigningKey(dir)
	if err != nil {
		return nil, err
	}
	k := &keyring{dir: dir, cur: messages.NewSigner(key), retired: map[string]*messages.Signer{}}
	entries, err := os.ReadDir(filepath.Join(dir, RetiredKeysDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read retired signing keys: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		priv, err := readSigningKey(filepath.Join(dir, RetiredKeysDir, e.Name()))
		if err != nil {
			return nil, err
		}
		s := messages.NewSigner(priv)
		if kid := messages.KeyID(s.PublicKey()); kid != messages.KeyID(k.cur.PublicKey()) {
			k.retired[kid] = s
		}
	}
	return k, nil
}

func (k *keyring) current() *messages.Signer {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.cur
}

// trusted is what new agents pin: the current key only.
func (k *keyring) trusted() []string {
	return []string{messages.EncodePublicKey(k.current().PublicKey())}
}

func (k *keyring) retiredKeys() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]string, 0, len(k.retired))
	for _, s := range k.retired {
		out = append(out, messages.EncodePublicKey(s.PublicKey()))
	}
	sort.Strings(out)
	return out
}

// signerFor returns a key this controller holds that a host trusting the
// key ids in trust will accept: the current key when it is among them,
// else a retired one.
func (k *keyring) signerFor(trust []string) (*messages.Signer, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if slices.Contains(trust, messages.KeyID(k.cur.PublicKey())) {
		return k.cur, true
	}
	for _, id := range trust {
		if s, ok := k.retired[id]; ok {
			return s, true
		}
	}
	return nil, false
}

// promote makes next the current key and retires the old one. The old key
// is written to the retired directory before the current file is replaced,
// so a crash between the two loses no key.
func (k *keyring) promote(next ed25519.PrivateKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.cur
	if err := os.MkdirAll(filepath.Join(k.dir, RetiredKeysDir), 0o700); err != nil {
		return err
	}
	oldID := messages.KeyID(old.PublicKey())
	oldPriv, err := readSigningKey(filepath.Join(k.dir, SigningKeyFile))
	if err != nil {
		return err
	}
	if err := writeSigningKey(filepath.Join(k.dir, RetiredKeysDir, oldID+".key"), oldPriv); err != nil {
		return err
	}
	if err := writeSigningKey(filepath.Join(k.dir, SigningKeyFile), next); err != nil {
		return err
	}
	k.retired[oldID] = old
	k.cur = messages.NewSigner(next)
	delete(k.retired, messages.KeyID(k.cur.PublicKey()))
	_ = os.Remove(filepath.Join(k.dir, RetiredKeysDir, messages.KeyID(k.cur.PublicKey())+".key"))
	return nil
}

func writeSigningKey(path string, priv ed25519.PrivateKey) error {
	out := pem.EncodeToMemory(&pem.Block{Type: "FOUNDRY ED25519 SEED", Bytes: priv.Seed()})
	if err := pki.WriteFile(path, out, 0o600); err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	return nil
}

func readSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %s is damaged; restore it from backup (agents trust only this key)", path)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}

// Rotation timeouts: the default and largest per-phase fan-out wait.
const (
	defaultRotateTimeout = 10 * time.Second
	maxRotateTimeout     = messages.MaxValidity
)

// RotateSigningKey makes a new signing key and moves every enrolled agent
// to it in two phases, so that no command is refused in between:
//
//  1. trust_update {old, new}, signed by the old key: agents accept both;
//  2. the controller promotes the new key (the old one is retired, kept
//     on disk) and signs every later command with it;
//  3. trust_update {new}, signed by the old key, which every agent still
//     trusts whether or not it saw phase 1: from here the old key no
//     longer works on any agent that answered.
//
// Agents that answered neither phase keep trusting only the old key; when
// such an agent next registers, the controller sees its trust set in the
// heartbeat and sends it phase 3 signed by the retired key (catchUpTrust).
func (c *Controller) RotateSigningKey(ctx context.Context, req messages.RotateSigningKeyRequest) (messages.RotateSigningKeyResult, error) {
	var res messages.RotateSigningKeyResult
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultRotateTimeout
	}
	if timeout > maxRotateTimeout {
		return res, &messages.Error{Code: messages.CodeBadRequest, Message: fmt.Sprintf("timeout %s is longer than the maximum %s", timeout, maxRotateTimeout)}
	}
	if c.clustered() {
		// The new key would exist only in this controller's data
		// directory; the others would go on signing with a key the
		// agents are about to drop.
		return res, &messages.Error{Code: messages.CodeConflict, Message: "signing key rotation is not supported on a controller cluster yet: every controller must hold the same signing key (see docs/architecture.md, Clustering)"}
	}
	if !c.keys.rotating.TryLock() {
		return res, &messages.Error{Code: messages.CodeConflict, Message: "a signing key rotation is already running; wait for it to finish"}
	}
	defer c.keys.rotating.Unlock()

	old := c.keys.current()
	_, next, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return res, err
	}
	oldKey, newKey := messages.EncodePublicKey(old.PublicKey()), messages.EncodePublicKey(next.Public().(ed25519.PublicKey))
	res.OldKey, res.NewKey = oldKey, newKey
	var hosts []string
	for _, id := range c.agents() {
		if !slices.Contains(hosts, id.Name) {
			hosts = append(hosts, id.Name)
		}
	}
	sort.Strings(hosts)
	res.Expected = len(hosts)

	// Every enrolled agent is a target; the envelope says so with
	// TargetAll rather than listing them, which for a large fleet would
	// exceed the command size limit. Each host still gets it only on its
	// own subject, and only the controller may publish there.
	all := []string{messages.TargetAll}
	// Phase 1: trust both. A failure here changes nothing on the
	// controller; hosts that took it still trust the old key.
	if _, _, err := c.runCommand(ctx, command{verb: messages.VerbTrustUpdate, targets: all, hosts: hosts,
		payload: messages.TrustUpdate{Keys: []string{oldKey, newKey}}, ttl: timeout, signer: old}); err != nil {
		return res, err
	}
	if err := c.keys.promote(next); err != nil {
		return res, fmt.Errorf("store the new signing key (agents may trust it already; run the rotation again): %w", err)
	}
	c.logger.Info("signing key rotated", "old_key_id", messages.KeyID(old.PublicKey()), "new_key_id", messages.KeyID(next.Public().(ed25519.PublicKey)))

	// Phase 3: trust only the new key, signed by the old one.
	env, fr, err := c.runCommand(ctx, command{verb: messages.VerbTrustUpdate, targets: all, hosts: hosts,
		payload: messages.TrustUpdate{Keys: []string{newKey}}, ttl: timeout, signer: old})
	if err != nil {
		return res, err
	}
	res.RequestID = env.ID
	res.Updated, res.Failed, res.Missing = []string{}, []messages.HostStatus{}, []messages.MissingHost{}
	for _, h := range hosts {
		if r, ok := fr.replies[h]; ok {
			if r.reply.Error == nil {
				res.Updated = append(res.Updated, h)
			} else {
				res.Failed = append(res.Failed, messages.HostStatus{Host: h, Error: r.reply.Error})
			}
			continue
		}
		res.Missing = append(res.Missing, messages.MissingHost{Host: h, Reason: fr.missing[h]})
	}
	return res, nil
}

// catchUpTrust brings a (re)registering host whose trusted keys are not
// exactly the current key up to date, signing with whichever of the
// controller's keys the host still trusts. It runs at most once per host
// per minute, so a host that keeps registering cannot make the controller
// sign in a loop.
func (c *Controller) catchUpTrust(host string, trust []string) {
	cur := messages.KeyID(c.keys.current().PublicKey())
	if len(trust) == 0 || (len(trust) == 1 && trust[0] == cur) {
		return
	}
	if !c.trustLimiter.allow(host) {
		return
	}
	signer, ok := c.keys.signerFor(trust)
	if !ok {
		c.logger.Warn("host trusts no signing key this controller holds; re-run foundry host configure for it", "host", host, "trusted_key_ids", trust)
		return
	}
	go func() {
		ctx := withCall(context.Background(), &apiCall{op: SystemOperator, action: "trust.catch-up"})
		_, fr, err := c.runCommand(ctx, command{verb: messages.VerbTrustUpdate, targets: []string{host}, hosts: []string{host},
			payload: messages.TrustUpdate{Keys: c.keys.trusted()}, ttl: defaultRotateTimeout, signer: signer})
		if err != nil {
			c.logger.Warn("trust catch-up not sent", "host", host, "err", err)
			return
		}
		if r, ok := fr.replies[host]; ok && r.reply.Error == nil {
			c.logger.Info("host brought to the current signing key", "host", host)
		} else {
			c.logger.Warn("host did not take the current signing key", "host", host, "reply", fmt.Sprint(r.reply.Error), "missing", fr.missing[host])
		}
	}()
}

// verifier checks signatures made by any key this controller holds, so
// artifacts signed before a rotation still list as verified.
func (k *keyring) verifier() *messages.Verifier {
	k.mu.RLock()
	defer k.mu.RUnlock()
	keys := []ed25519.PublicKey{k.cur.PublicKey()}
	for _, s := range k.retired {
		keys = append(keys, s.PublicKey())
	}
	return messages.NewVerifier(keys, nil)
}
