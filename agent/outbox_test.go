package agent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func openTestOutbox(t *testing.T, path string) *outbox {
	t.Helper()
	j, lines, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.close)
	return newOutbox(j, lines, slog.New(slog.DiscardHandler))
}

func entry(i int) outboxEntry {
	return outboxEntry{ID: fmt.Sprintf("h.i.%d", i), Subject: "foundry.evt.h.x", Event: []byte(fmt.Sprintf(`{"seq":%d}`, i))}
}

func ids(o *outbox) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, e := range o.pending {
		out = append(out, e.ID)
	}
	return out
}

// What waits in the outbox survives a restart, in order, without what the
// stream acknowledged, and a line cut short by a crash is skipped.
func TestOutboxSurvivesRestartInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), outboxFile)
	o := openTestOutbox(t, path)
	for i := 1; i <= 3; i++ {
		o.add(entry(i))
	}
	o.ack("h.i.1")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"add":{"id":"h.i.4","subj`) // the crash
	f.Close()

	again := openTestOutbox(t, path)
	if got := fmt.Sprint(ids(again)); got != "[h.i.2 h.i.3]" {
		t.Fatalf("after a restart the outbox holds %s", got)
	}
	if e, _ := again.head(); string(e.Event) != `{"seq":2}` {
		t.Fatalf("head %s", e.Event)
	}
	again.ack("h.i.2")
	again.ack("h.i.3")
	if st, err := os.Stat(path); err != nil || st.Size() != 0 {
		t.Fatalf("an empty outbox leaves a file of %v bytes (%v)", st.Size(), err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("outbox mode %o", st.Mode().Perm())
	}
}

// The outbox is bounded in count (the oldest go) and in file size (it is
// rewritten with what waits).
func TestOutboxIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), outboxFile)
	o := openTestOutbox(t, path)
	for i := 1; i <= maxOutboxEvents+5; i++ {
		o.add(entry(i))
	}
	got := ids(o)
	if len(got) != maxOutboxEvents || got[0] != "h.i.6" {
		t.Fatalf("%d waiting, first %s", len(got), got[0])
	}

	path = filepath.Join(t.TempDir(), outboxFile)
	o = openTestOutbox(t, path)
	o.add(entry(1)) // waits throughout
	big := make([]byte, 8<<10)
	for i := range big {
		big[i] = 'x'
	}
	for i := 0; i < 4*maxOutboxFileBytes/len(big); i++ {
		e := entry(1000 + i)
		e.Event = []byte(`"` + string(big) + `"`)
		o.add(e)
		o.ack(e.ID)
	}
	if st, _ := os.Stat(path); st.Size() > 2*maxOutboxFileBytes {
		t.Fatalf("outbox file grew to %d bytes", st.Size())
	}
	if got := fmt.Sprint(ids(openTestOutbox(t, path))); got != "[h.i.1]" {
		t.Fatalf("after compaction the outbox holds %s", got)
	}
}
