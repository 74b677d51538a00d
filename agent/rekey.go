package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/messages"
)

// stagedSeedPath is where a prepared rekey keeps the new seed until the
// controller commits it.
func stagedSeedPath(nkeyFile string) string { return nkeyFile + ".next" }

// handleRekey runs one step of a key rotation (messages.VerbRekey).
//
// The order is what keeps the host reachable whatever is interrupted:
//
//  1. prepare writes a new seed to nkey_file.next (temporary file, fsync,
//     rename, directory fsync) and answers with its public key. nkey_file
//     is untouched: a lost answer or a controller that stops here leaves
//     the host on its old key, which is still enrolled.
//  2. The controller enrols the new public key beside the old one.
//  3. commit checks that the staged seed is the key the controller named,
//     renames it over nkey_file (atomic, directory fsynced) and answers;
//     only after the answer went out does the agent move to a connection
//     made with the new key (see switchKey in Run). Whether the rename
//     happened or not, nkey_file holds a key the controller knows: both
//     are enrolled at this point.
//  4. Only after the commit's answer does the controller revoke the old
//     key, which closes every connection made with it, a squatter's too.
//     If the answer is lost the controller revokes nothing and says so;
//     a re-run converges, because the last step revokes every key but the
//     newest.
func (a *Agent) handleRekey(_ context.Context, env *messages.Envelope) (any, error) {
	args, err := messages.DecodeRekeyArgs(env.Payload)
	if err != nil {
		return nil, err
	}
	a.rekeyMu.Lock()
	defer a.rekeyMu.Unlock()
	staged := stagedSeedPath(a.cfg.NKeyFile)
	switch args.Step {
	case messages.RekeyPrepare:
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, fmt.Errorf("create a new key: %w", err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		if err := writeFileAtomic(staged, append(seed, '\n'), 0o600); err != nil {
			return nil, hostErr("stage the new key", err)
		}
		a.logger.Info("new identity key staged", "id", env.ID, "operator", env.Operator, "public_key", pub)
		return messages.RekeyReply{PublicKey: pub}, nil
	default: // commit; DecodeRekeyArgs allows nothing else
		seed, err := readSeed(staged)
		if errors.Is(err, os.ErrNotExist) {
			if cur, cerr := a.currentPublicKey(); cerr == nil && cur == args.PublicKey {
				return messages.RekeyReply{PublicKey: cur}, nil // committed before; the answer was lost
			}
			return nil, &messages.Error{Code: messages.CodeConflict, Message: "no new key is staged on the host; run foundry host rekey again"}
		}
		if err != nil {
			return nil, hostErr("read the staged key", err)
		}
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			return nil, hostErr("read the staged key", err)
		}
		if pub, _ := kp.PublicKey(); pub != args.PublicKey {
			return nil, &messages.Error{Code: messages.CodeConflict, Message: "the key staged on the host is not the one the controller enrolled; run foundry host rekey again"}
		}
		if err := os.Rename(staged, a.cfg.NKeyFile); err != nil {
			return nil, hostErr("install the new key", err)
		}
		syncDirOf(a.cfg.NKeyFile)
		a.switchPending.Store(true)
		a.logger.Info("identity key replaced; moving to a connection with the new key", "id", env.ID, "operator", env.Operator, "public_key", args.PublicKey)
		return messages.RekeyReply{PublicKey: args.PublicKey}, nil
	}
}

// currentPublicKey is the public key of the seed in nkey_file.
func (a *Agent) currentPublicKey() (string, error) {
	seed, err := readSeed(a.cfg.NKeyFile)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// afterReply starts the move to the new key once a commit's answer was
// sent on the old connection.
func (a *Agent) afterReply() {
	if a.switchPending.CompareAndSwap(true, false) {
		select {
		case a.switchKey <- struct{}{}:
		default:
		}
	}
}

func syncDirOf(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func hostErr(what string, err error) error {
	return &messages.Error{Code: messages.CodeInternal, Message: fmt.Sprintf("%s: %v; check the agent's nkey_file directory on the host", what, err)}
}
