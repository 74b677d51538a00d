package simulate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/messages"
)

// File names inside a simulation directory.
const (
	ConfigFile = "agent.yaml"
	SeedFile   = "agent.nk"
	CAFile     = "ca.pem"
)

// IDs returns count host ids prefix-first, prefix-(first+1), ..., checked
// to be valid host ids.
func IDs(prefix string, first, count int) ([]string, error) {
	if count < 1 {
		return nil, fmt.Errorf("count %d: simulate at least 1 agent", count)
	}
	if first < 0 {
		return nil, fmt.Errorf("first index %d is negative", first)
	}
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, first+i)
	}
	for _, id := range []string{out[0], out[len(out)-1]} {
		if err := messages.ValidHostID(id); err != nil {
			return nil, fmt.Errorf("prefix %q: %w", prefix, err)
		}
	}
	return out, nil
}

// Enroller is the part of the controller client that Enroll needs.
type Enroller interface {
	Enroll(ctx context.Context, req messages.EnrollRequest) (messages.EnrollResult, error)
}

// Enroll creates a fresh NKey identity for every id, enrolls its public key
// through the controller API (parallel requests at a time), and writes a
// simulation directory in dir: the seed, the config the controller's
// answer implies, and the controller CA. It returns the configs in ids'
// order. The seeds never leave dir, as on a real host.
func Enroll(ctx context.Context, e Enroller, dir string, ids []string, parallel int) ([]agent.Config, error) {
	if parallel < 1 {
		parallel = 1
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfgs := make([]agent.Config, len(ids))
	errs := make([]error, len(ids))
	var caOnce sync.Once
	var caErr error
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				cfg, ca, err := enrollOne(ctx, e, dir, ids[i])
				if err == nil && ca != "" {
					caOnce.Do(func() { caErr = writeFile(filepath.Join(dir, CAFile), []byte(ca), 0o644) })
					err = caErr
				}
				if err == nil {
					err = writeConfig(dir, cfg)
				}
				cfgs[i], errs[i] = cfg, err
			}
		}()
	}
feed:
	for i := range ids {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfgs, nil
}

func enrollOne(ctx context.Context, e Enroller, dir, id string) (agent.Config, string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return agent.Config{}, "", err
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	adir := filepath.Join(dir, id)
	if err := os.MkdirAll(adir, 0o700); err != nil {
		return agent.Config{}, "", err
	}
	nk := filepath.Join(adir, SeedFile)
	if err := writeFile(nk, append(seed, '\n'), 0o600); err != nil {
		return agent.Config{}, "", err
	}
	res, err := e.Enroll(ctx, messages.EnrollRequest{Host: id, PublicKey: pub})
	if err != nil {
		return agent.Config{}, "", fmt.Errorf("enroll %s: %w", id, err)
	}
	cfg := agent.Config{ID: id, URLs: res.URLs, NKeyFile: nk, TrustedKeys: res.TrustedKeys}
	if res.CAPEM != "" {
		cfg.CAFile = filepath.Join(dir, CAFile)
	}
	return cfg, res.CAPEM, nil
}

func writeConfig(dir string, cfg agent.Config) error {
	b, err := agent.RenderConfig(cfg)
	if err != nil {
		return fmt.Errorf("config for %s: %w", cfg.ID, err)
	}
	return writeFile(filepath.Join(dir, cfg.ID, ConfigFile), b, 0o644)
}

// writeFile replaces path atomically, so a half-written seed or config is
// never read by a concurrent simulation.
func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadDir reads the configs of ids from a simulation directory prepared
// by Enroll (or by hand, in the same layout).
func LoadDir(dir string, ids []string) ([]agent.Config, error) {
	cfgs := make([]agent.Config, len(ids))
	for i, id := range ids {
		cfg, err := agent.LoadConfig(filepath.Join(dir, id, ConfigFile))
		if errors.Is(err, agent.ErrNoConfig) {
			return nil, fmt.Errorf("%s has no config for %s (%s/%s/%s); prepare the directory with --enroll --dir %s: %w",
				dir, id, dir, id, ConfigFile, dir, err)
		}
		if err != nil {
			return nil, err
		}
		if cfg.ID != id {
			return nil, fmt.Errorf("%s/%s/%s is for host %q, not %q", dir, id, ConfigFile, cfg.ID, id)
		}
		cfgs[i] = cfg
	}
	return cfgs, nil
}
