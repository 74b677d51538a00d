// Package buildinfo says which build of Foundry is running. The version
// comes from the linker (-X main.version, set by make from git describe);
// the commit comes from the Go toolchain's VCS stamp, so a build from a
// checkout names its commit without anyone passing it, and a build from a
// source tarball (no VCS) can still be given one with -X main.commit.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what `foundry version` prints.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	// CommitTime is the commit's time (vcs.time), not the build's: builds
	// carry no timestamp so that the same commit builds the same bytes.
	CommitTime string `json:"commit_time,omitempty"`
	// Modified is true when the tree had uncommitted changes.
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Read assembles Info from the linker values and this binary's build
// information.
func Read(version, commit string) Info {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(version, commit, bi, runtime.GOOS+"/"+runtime.GOARCH)
}

// FromBuildInfo is Read with its inputs given, so tests can pin them.
// A commit given by the linker wins over the VCS stamp.
func FromBuildInfo(version, commit string, bi *debug.BuildInfo, platform string) Info {
	in := Info{Version: version, Commit: commit, Platform: platform, GoVersion: runtime.Version()}
	if in.Version == "" {
		in.Version = "dev"
	}
	if bi == nil {
		return in
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if in.Commit == "" {
				in.Commit = s.Value
			}
		case "vcs.time":
			in.CommitTime = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one line `foundry --version` prints.
func (in Info) String() string {
	commit := in.Commit
	if commit == "" {
		commit = "unknown"
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if in.Modified {
		commit += "-dirty"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s)", in.Version, commit, in.GoVersion, in.Platform)
}

// Lines is the longer form `foundry version` prints, one field a line.
func (in Info) Lines() string {
	var b strings.Builder
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-11s %s\n", k+":", v)
		}
	}
	commit := in.Commit
	if commit == "" {
		commit = "unknown"
	}
	if in.Modified {
		commit += " (modified)"
	}
	row("version", in.Version)
	row("commit", commit)
	row("commit time", in.CommitTime)
	row("go", in.GoVersion)
	row("platform", in.Platform)
	return b.String()
}
