package agent

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// Files in the agent's state directory.
const (
	outboxFile   = "events.outbox"
	commandsFile = "commands.log"
	startedFile  = "instance.started"
	// maxCommandsFileBytes: the accepted-commands file is rewritten with
	// the unexpired entries once it grows past this.
	maxCommandsFileBytes = 1 << 20
	// maxLoggedReplyBytes bounds a reply kept for a replay's "previous";
	// a larger one is kept without its payload.
	maxLoggedReplyBytes = 16 << 10
)

// openState gives the agent its instance id and start time, and opens
// its outbox and accepted-commands log, on disk when it has a state
// directory.
func (a *Agent) openState() error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	a.instance = hex.EncodeToString(b[:])
	a.startedMs = a.started.UnixMilli()
	dir := a.opts.StateDir
	if dir == "" {
		a.outbox = newOutbox(nil, nil, a.logger)
		a.commands = &commandLog{logger: a.logger}
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	started, err := monotonicStart(filepath.Join(dir, startedFile), a.startedMs)
	if err != nil {
		return err
	}
	a.startedMs = started
	j, lines, err := openJournal(filepath.Join(dir, outboxFile))
	if err != nil {
		return fmt.Errorf("event outbox: %w", err)
	}
	a.outbox = newOutbox(j, lines, a.logger)
	cj, lines, err := openJournal(filepath.Join(dir, commandsFile))
	if err != nil {
		j.close()
		return fmt.Errorf("accepted commands: %w", err)
	}
	a.commands = &commandLog{logger: a.logger, j: cj}
	a.commands.load(lines, a.verifier, &a.results)
	return nil
}

func (a *Agent) closeState() {
	a.outbox.mu.Lock()
	a.outbox.j.close()
	a.outbox.j = nil
	a.outbox.mu.Unlock()
	a.commands.mu.Lock()
	a.commands.j.close()
	a.commands.j = nil
	a.commands.mu.Unlock()
}

// monotonicStart returns now, or just after the start recorded in path
// when the clock went back since, and records it: instances of a host are
// ordered by start, and a clock stepped back must not make a new agent
// look older than the one before it.
func monotonicStart(path string, now int64) (int64, error) {
	j, lines, err := openJournal(path)
	if err != nil {
		return 0, fmt.Errorf("instance start: %w", err)
	}
	defer j.close()
	for _, l := range lines {
		var last int64
		if json.Unmarshal(l, &last) == nil && last >= now {
			now = last + 1
		}
	}
	if err := j.rewrite([]any{now}); err != nil {
		return 0, fmt.Errorf("instance start: %w", err)
	}
	return now, nil
}

// commandLog remembers, on disk, every change command the agent accepted
// (any verb but the read-only ones) until it expires, and its reply once
// it has one. A job re-sends a step to a host that came back, and the
// host may be a new agent process; loaded at start, the log makes the new
// process refuse the re-send as a replay and tell the first outcome, so
// nothing runs twice across a restart either.
type commandLog struct {
	logger *slog.Logger
	mu     sync.Mutex
	j      *journal
}

type commandLine struct {
	ID    string          `json:"id"`
	Exp   int64           `json:"exp"`
	Reply *messages.Reply `json:"reply,omitempty"`
}

// accepted records id before its handler runs.
func (c *commandLog) accepted(env *messages.Envelope) {
	if messages.VerbAllowed(env.Verb, messages.RoleReadOnly) {
		return // reading twice changes nothing
	}
	c.write(commandLine{ID: env.ID, Exp: env.ExpiresAt})
}

// finished records the reply of an accepted command.
func (c *commandLog) finished(env *messages.Envelope, r messages.Reply) {
	if messages.VerbAllowed(env.Verb, messages.RoleReadOnly) {
		return
	}
	if b, _ := json.Marshal(r); len(b) > maxLoggedReplyBytes {
		r.Payload = nil
	}
	c.write(commandLine{ID: env.ID, Exp: env.ExpiresAt, Reply: &r})
}

func (c *commandLog) write(l commandLine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.j == nil {
		return
	}
	if err := c.j.append(l); err != nil {
		c.logger.Warn("accepted command not written to disk", "id", l.ID, "err", err)
	}
	if c.j.size >= maxCommandsFileBytes {
		c.compactLocked()
	}
}

// compactLocked rewrites the log with its unexpired entries.
func (c *commandLog) compactLocked() {
	f, err := os.ReadFile(c.j.path)
	if err != nil {
		return
	}
	now := time.Now().UnixMilli()
	var keep []any
	for _, l := range bytes.Split(f, []byte{'\n'}) {
		var cl commandLine
		if json.Unmarshal(l, &cl) == nil && cl.Exp > now {
			keep = append(keep, cl)
		}
	}
	if err := c.j.rewrite(keep); err != nil {
		c.logger.Warn("accepted commands not compacted", "err", err)
	}
}

// load puts the unexpired commands of an earlier run into the replay
// cache, with their replies; one accepted without a reply was cut short
// by the stop, and a replay is told so.
func (c *commandLog) load(lines [][]byte, v *messages.Verifier, results *resultCache) {
	now := time.Now().UnixMilli()
	for _, l := range lines {
		var cl commandLine
		if json.Unmarshal(l, &cl) != nil || cl.ID == "" || cl.Exp <= now {
			continue
		}
		v.Remember(cl.ID, cl.Exp)
		r := messages.Reply{V: messages.Version, ID: cl.ID, Error: &messages.Error{Code: messages.CodeUnavailable,
			Message: "the agent stopped while running this command; its outcome is unknown, check the host"}}
		if cl.Reply != nil {
			r = *cl.Reply
		}
		results.put(cl.ID, cl.Exp, r)
	}
}
