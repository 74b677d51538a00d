package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/foundry-fleet/foundry/messages"
)

// handleTrustUpdate replaces the pinned signing keys. The command got here
// only after verification against the keys trusted now and the admin-role
// check, so the chain of trust is unbroken from bootstrap. The new set is
// written to the config file first and takes effect only once it is on
// disk, so a restart never brings back a key the controller retired;
// without a config file it takes effect in memory only.
func (a *Agent) handleTrustUpdate(_ context.Context, env *messages.Envelope) (any, error) {
	u, keys, err := messages.DecodeTrustUpdate(env.Payload)
	if err != nil {
		return nil, err
	}
	a.trustMu.Lock()
	defer a.trustMu.Unlock()
	persisted := false
	if a.opts.ConfigPath != "" {
		if err := persistTrust(a.opts.ConfigPath, a.cfg.ID, u.Keys); err != nil {
			return nil, fmt.Errorf("trust update not applied: %w", err)
		}
		persisted = true
	} else {
		a.logger.Warn("trust update kept in memory only: this agent runs without a config file")
	}
	a.verifier.SetKeys(keys)
	ids := a.verifier.KeyIDs()
	a.logger.Info("trusted signing keys replaced", "id", env.ID, "operator", env.Operator, "key_ids", ids, "persisted", persisted)
	a.publishEvent(messages.EventTrustUpdated, messages.SeverityInfo, "trusted signing keys replaced", env.ID,
		map[string]string{"key_ids": fmt.Sprint(ids), "operator": clip(env.Operator, 64)})
	return messages.TrustUpdateReply{KeyIDs: ids, Persisted: persisted}, nil
}

// persistTrust rewrites the config file at path with keys as its trusted
// keys. It re-reads the file rather than writing the in-memory config, so
// whatever else is in it stays as it is on disk, and it refuses a file
// that describes another host. The write is atomic: a temporary file in
// the same directory, synced, renamed over the old one, then the directory
// synced, so a crash leaves either the old file or the new one.
func persistTrust(path, id string, keys []string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	if cfg.ID != id {
		return fmt.Errorf("config %s is for host %q, not %q; fix the file or re-run foundry host configure", path, cfg.ID, id)
	}
	cfg.TrustedKeys = keys
	b, err := RenderConfig(cfg)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return writeFileAtomic(path, b, mode)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// TrustedKeyIDs are the ids of the signing keys the agent trusts now.
func (a *Agent) TrustedKeyIDs() []string { return a.verifier.KeyIDs() }
