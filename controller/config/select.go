package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// EnvConfig names the environment variable that selects a config when
// --config is not given.
const EnvConfig = "FOUNDRY_CONFIG"

// ErrNoConfig means there is no config to use; the fix is `foundry config
// init`.
var ErrNoConfig = errors.New("no stack config")

// ErrAmbiguousConfig means several configs exist and none was chosen.
// Foundry never picks one implicitly, so a command meant for staging
// cannot hit production by accident.
var ErrAmbiguousConfig = errors.New("several stack configs and none selected")

// Selection says which config was chosen and why, for `config list` and
// for messages.
type Selection struct {
	Path   string
	Reason string // "--config", "FOUNDRY_CONFIG" or "only config in <home>"
}

// Select picks the config file: --config beats FOUNDRY_CONFIG; otherwise
// the only *.yaml file in home. Several files and no choice is
// ErrAmbiguousConfig (listing them); none is ErrNoConfig. The chosen path
// is not checked for existence here (Load says so), so `config init` can
// use Select to name the file it creates.
func Select(flagPath, envValue, home string) (string, error) {
	s, err := SelectWithReason(flagPath, envValue, home)
	return s.Path, err
}

// SelectWithReason is Select that also says why.
func SelectWithReason(flagPath, envValue, home string) (Selection, error) {
	if flagPath != "" {
		return Selection{Path: resolveName(flagPath, home), Reason: "--config"}, nil
	}
	if envValue != "" {
		return Selection{Path: resolveName(envValue, home), Reason: EnvConfig}, nil
	}
	files, err := List(home)
	if err != nil {
		return Selection{}, err
	}
	switch len(files) {
	case 0:
		return Selection{}, fmt.Errorf("%w in %s; run `foundry config init` to create one", ErrNoConfig, home)
	case 1:
		return Selection{Path: files[0], Reason: "only config in " + home}, nil
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(filepath.Base(f), ".yaml")
	}
	return Selection{}, fmt.Errorf("%w: %s has %s; choose one with --config NAME or %s=NAME",
		ErrAmbiguousConfig, home, strings.Join(names, ", "), EnvConfig)
}

// resolveName lets users say "--config prod" for ~/.foundry/prod.yaml. A
// value with a path separator or a .yaml/.yml extension is a path.
func resolveName(v, home string) string {
	if strings.ContainsRune(v, filepath.Separator) || strings.Contains(v, "/") ||
		strings.HasSuffix(v, ".yaml") || strings.HasSuffix(v, ".yml") {
		return v
	}
	return filepath.Join(home, v+".yaml")
}

// List returns the *.yaml files directly in home, sorted. A missing home
// has none.
func List(home string) ([]string, error) {
	entries, err := os.ReadDir(home)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list configs in %s: %w", home, err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		out = append(out, filepath.Join(home, name))
	}
	sort.Strings(out)
	return out, nil
}
