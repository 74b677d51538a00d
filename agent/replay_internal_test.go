package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// The replay file round-trips, and a broken one puts the floor at now so
// nothing issued before the start can run again.
func TestReplayFileRoundTripsAndBrokenFileRefusesThePast(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, replayFile)
	now := time.Unix(1_800_000_000, 0)
	st := messages.ReplayState{Floor: 5, Seen: map[string]messages.Seen{"abc": {IssuedAt: 1, ExpiresAt: 2}}}
	if err := saveReplays(path, st); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("replay file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := loadReplays(path, now)
	if err != nil || got.Floor != 5 || got.Seen["abc"] != st.Seen["abc"] {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = loadReplays(path, now)
	if err == nil || got.Floor != now.UnixMilli() {
		t.Fatalf("broken file: %+v %v, want an error and the floor at now", got, err)
	}
	if got, err := loadReplays(filepath.Join(dir, "missing"), now); err != nil || got.Floor != 0 {
		t.Fatalf("missing file: %+v %v, want an empty cache", got, err)
	}
}

// FuzzDecodeReplays: the replay file is read back at every start; no
// input may panic, and whatever is accepted round-trips.
func FuzzDecodeReplays(f *testing.F) {
	f.Add([]byte(`{"floor_ms":5,"seen":{"abc":{"i":1,"e":2}}}`))
	f.Add([]byte(`{"seen":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeReplays(b)
		if err != nil {
			return
		}
		for id := range st.Seen {
			if len(id) > 64 {
				t.Fatalf("accepted an id of %d bytes", len(id))
			}
		}
	})
}
