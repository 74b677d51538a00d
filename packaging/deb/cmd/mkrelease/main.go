// Command mkrelease turns the binaries `make package` built into a
// release directory: the .deb packages, SHA256SUMS over every file, and
// SHA256SUMS.sig when $FOUNDRY_RELEASE_KEY names the release key (PEM,
// Ed25519; never kept in the repository). Without a key the release is
// unsigned and it says so loudly.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/packaging/deb"
	"github.com/foundry-fleet/foundry/packaging/release"
)

func main() {
	var o opts
	flag.StringVar(&o.version, "version", "", "release version (1.2.3)")
	flag.StringVar(&o.dist, "dist", "", "directory with the built binaries; packages and SHA256SUMS are written here")
	flag.StringVar(&o.man, "man", "", "man pages (gendocs --man)")
	flag.StringVar(&o.completions, "completions", "", "completions (gendocs --completions)")
	flag.StringVar(&o.date, "date", os.Getenv("SOURCE_DATE_EPOCH"), "timestamp of every file in the packages, Unix seconds (default $SOURCE_DATE_EPOCH: the commit's time)")
	flag.Parse()
	o.key = os.Getenv("FOUNDRY_RELEASE_KEY")
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkrelease:", err)
		os.Exit(1)
	}
}

type opts struct {
	version, dist, man, completions, date, key string
}

func run(o opts, stdout, stderr io.Writer) error {
	secs, err := strconv.ParseInt(o.date, 10, 64)
	if err != nil || o.version == "" || o.dist == "" {
		return fmt.Errorf("need --version, --dist and --date (or SOURCE_DATE_EPOCH)")
	}
	mtime := time.Unix(secs, 0).UTC()

	for _, arch := range []string{"amd64", "arm64"} {
		for _, p := range []struct {
			name string
			cli  bool
		}{{"foundry-agent", false}, {"foundry", true}} {
			bin := filepath.Join(o.dist, fmt.Sprintf("%s_%s_linux_%s", p.name, o.version, arch))
			if _, err := os.Stat(bin); err != nil {
				continue // not built for this architecture (a partial package run)
			}
			do := deb.Options{Version: o.version, Arch: arch, Binary: bin, MTime: mtime}
			pkg, err := deb.Agent(do)
			if p.cli {
				pkg, err = deb.CLI(do, o.man, o.completions)
			}
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := deb.Write(pkg, &buf); err != nil {
				return err
			}
			name := deb.FileName(p.name, do)
			if err := os.WriteFile(filepath.Join(o.dist, name), buf.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "package:", name)
		}
	}
	return sign(o, stdout, stderr)
}

func sign(o opts, stdout, stderr io.Writer) error {
	entries, err := os.ReadDir(o.dist)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != release.SumsFile && e.Name() != release.SigFile {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if o.key == "" {
		fmt.Fprintln(stderr, strings.Repeat("!", 72))
		fmt.Fprintln(stderr, "WARNING: FOUNDRY_RELEASE_KEY is not set: this release is NOT SIGNED.")
		fmt.Fprintln(stderr, "Set it to the path of the Ed25519 release key (PEM) to sign SHA256SUMS.")
		fmt.Fprintln(stderr, strings.Repeat("!", 72))
		if err := release.Write(o.dist, names, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d files (unsigned)\n", release.SumsFile, len(names))
		return nil
	}
	key, err := release.LoadPrivateKey(o.key)
	if err != nil {
		return fmt.Errorf("read the release key named by FOUNDRY_RELEASE_KEY: %w", err)
	}
	if err := release.Write(o.dist, names, key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d files, signed (%s)\n", release.SumsFile, len(names), release.SigFile)
	return nil
}
