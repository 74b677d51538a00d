package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// replayFile is the replay cache in the agent's state directory. It makes
// "a command id runs at most once on this host" hold across restarts and
// reboots: a captured command replayed after a restart, before it
// expires, is still refused.
const replayFile = "replay.json"

// maxReplayIDs bounds the file: a host gets far fewer commands than this
// in a command's maximum lifetime (15 minutes); beyond it the oldest ids
// give way to a floor that keeps them refused.
const maxReplayIDs = 4096

// maxReplayFileBytes bounds what is read back (about 70 bytes an id).
const maxReplayFileBytes = 1 << 20

// loadReplays reads the saved replay cache. A missing file is an empty
// cache (first start). A broken one cannot say which commands already ran,
// so the floor is put at now: every command issued before this start is
// refused, and only fresh ones run.
func loadReplays(path string, now time.Time) (messages.ReplayState, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return messages.ReplayState{}, nil
	}
	floorNow := messages.ReplayState{Floor: now.UnixMilli()}
	if err != nil {
		return floorNow, fmt.Errorf("read replay cache: %w", err)
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, maxReplayFileBytes+1))
	if err != nil {
		return floorNow, fmt.Errorf("read replay cache %s: %w", path, err)
	}
	st, err := decodeReplays(b)
	if err != nil {
		return floorNow, fmt.Errorf("replay cache %s: %w", path, err)
	}
	return st, nil
}

// decodeReplays parses the file, refusing anything oversized or malformed.
func decodeReplays(b []byte) (messages.ReplayState, error) {
	var st messages.ReplayState
	if len(b) > maxReplayFileBytes {
		return st, fmt.Errorf("is larger than %d bytes", maxReplayFileBytes)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return messages.ReplayState{}, fmt.Errorf("is not valid: %w", err)
	}
	for id := range st.Seen {
		if len(id) > 64 {
			return messages.ReplayState{}, errors.New("holds an id longer than 64 bytes")
		}
	}
	return st, nil
}

// saveReplays writes the cache atomically (see writeFileAtomic).
func saveReplays(path string, st messages.ReplayState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

// persistReplays wires the verifier to the state directory; without one
// (simulations, foreground runs) the cache stays in memory.
func (a *Agent) persistReplays(dir string) {
	if dir == "" {
		return
	}
	path := filepath.Join(dir, replayFile)
	st, err := loadReplays(path, time.Now())
	if err != nil {
		a.logger.Warn("replay cache unreadable: refusing every command issued before this start", "err", err)
	}
	a.verifier.PersistReplays(st, maxReplayIDs, func(st messages.ReplayState) error { return saveReplays(path, st) })
}
