package openbao

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the name of the one file the double keeps its state in,
// inside the storage "file" path. It is named for the double so nobody
// mistakes it for OpenBAO's own storage.
const StateFile = "openbao-double-state.json"

// state is everything that survives a restart. The sealed flag and an
// unseal attempt in progress are not in it: a restarted server is sealed,
// as the real one is. KV data is stored in plain JSON; the double has no
// barrier encryption.
type state struct {
	Note        string                           `json:"note"`
	Initialized bool                             `json:"initialized"`
	Threshold   int                              `json:"threshold"`
	KeyHashes   []string                         `json:"unseal_key_sha256"`
	ClusterID   string                           `json:"cluster_id"`
	Tokens      []savedToken                     `json:"tokens"`
	Mounts      map[string]map[string]savedEntry `json:"mounts"`
}

type savedToken struct {
	ID          string    `json:"id"`
	Accessor    string    `json:"accessor"`
	DisplayName string    `json:"display_name"`
	Created     time.Time `json:"created"`
	Policies    []Policy  `json:"policies"`
}

type savedEntry struct {
	Created  time.Time      `json:"created"`
	Updated  time.Time      `json:"updated"`
	Versions []savedVersion `json:"versions"`
}

type savedVersion struct {
	Created time.Time      `json:"created"`
	Data    map[string]any `json:"data"`
}

// Open returns a server that keeps its state in dir (created 0700 if
// missing), like `bao server` with storage "file". Without a state file it
// is uninitialised, as after installation; with one it is initialised and
// sealed, as OpenBAO is after a restart, and everything stored before is
// back once enough unseal keys have been given.
func Open(dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create storage directory: %w", err)
	}
	s := New()
	s.dir = dir
	path := filepath.Join(dir, StateFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := s.restore(st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func (s *Server) restore(st state) error {
	s.initialized = st.Initialized
	s.sealed = true
	s.threshold = st.Threshold
	s.clusterID = st.ClusterID
	for _, h := range st.KeyHashes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("bad unseal key hash %q", h)
		}
		s.keyHashes = append(s.keyHashes, [32]byte(b))
	}
	if s.initialized && (s.threshold < 1 || s.threshold > len(s.keyHashes)) {
		return fmt.Errorf("threshold %d does not fit %d key shares", s.threshold, len(s.keyHashes))
	}
	for _, t := range st.Tokens {
		s.tokens[t.ID] = &token{id: t.ID, accessor: t.Accessor, displayName: t.DisplayName, created: t.Created, policies: t.Policies}
	}
	for name, entries := range st.Mounts {
		m := newKVMount()
		for p, e := range entries {
			ke := &kvEntry{created: e.Created, updated: e.Updated}
			for _, v := range e.Versions {
				ke.versions = append(ke.versions, kvVersion{data: v.Data, created: v.Created})
			}
			m.entries[p] = ke
		}
		s.mounts[name] = m
	}
	return nil
}

func (s *Server) snapshot() state {
	st := state{
		Note:        "state of the OpenBAO TEST DOUBLE (e2e/doubles/openbao), not of OpenBAO",
		Initialized: s.initialized,
		Threshold:   s.threshold,
		ClusterID:   s.clusterID,
		Tokens:      []savedToken{},
		Mounts:      map[string]map[string]savedEntry{},
	}
	for _, h := range s.keyHashes {
		st.KeyHashes = append(st.KeyHashes, hex.EncodeToString(h[:]))
	}
	for _, t := range s.tokens {
		st.Tokens = append(st.Tokens, savedToken{ID: t.id, Accessor: t.accessor, DisplayName: t.displayName, Created: t.created, Policies: t.policies})
	}
	for name, m := range s.mounts {
		entries := map[string]savedEntry{}
		for p, e := range m.entries {
			se := savedEntry{Created: e.created, Updated: e.updated}
			for _, v := range e.versions {
				se.Versions = append(se.Versions, savedVersion{Created: v.created, Data: v.data})
			}
			entries[p] = se
		}
		st.Mounts[name] = entries
	}
	return st
}

// save writes the whole state after a change, so a crash or restart loses
// nothing that was acknowledged. It writes a temporary file, syncs it and
// renames it over the old one, so the file on disk is always complete.
// Callers hold s.mu. Without a storage directory it does nothing.
func (s *Server) save() error {
	if s.dir == "" {
		return nil
	}
	raw, err := json.MarshalIndent(s.snapshot(), "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, StateFile+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, StateFile)); err != nil {
		return err
	}
	// Sync the directory too, so the rename itself survives a crash.
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// saved saves the state and reports whether that worked; if not it has
// answered 500, as OpenBAO does when its storage fails.
func (s *Server) saved(w http.ResponseWriter) bool {
	if err := s.save(); err != nil {
		writeErrors(w, http.StatusInternalServerError, "storage: "+err.Error())
		return false
	}
	return true
}

// mustSave is save for the test-helper methods, which have no error to
// return: a storage failure there is a broken test environment, so it
// panics loudly rather than let the test run on with state it did not
// save.
func (s *Server) mustSave() {
	if err := s.save(); err != nil {
		panic("openbao double: " + err.Error())
	}
}
