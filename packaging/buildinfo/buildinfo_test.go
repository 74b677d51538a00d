package buildinfo

import (
	"runtime/debug"
	"testing"
)

func stamped(settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1"}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

func TestFromBuildInfoTakesTheCommitFromTheVCSStamp(t *testing.T) {
	bi := stamped("vcs", "git", "vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "false")
	got := FromBuildInfo("1.4.0", "", bi, "darwin/arm64")
	want := Info{Version: "1.4.0", Commit: "0123456789abcdef0123", CommitTime: "2026-12-01T10:00:00Z", GoVersion: "go1.99.1", Platform: "darwin/arm64"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if s := got.String(); s != "1.4.0 (commit 0123456789ab, go1.99.1, darwin/arm64)" {
		t.Fatalf("String: %q", s)
	}
}

func TestLinkerCommitWinsAndDirtyTreesSaySo(t *testing.T) {
	bi := stamped("vcs.revision", "aaaa", "vcs.modified", "true")
	got := FromBuildInfo("", "bbbb", bi, "linux/amd64")
	if got.Commit != "bbbb" || !got.Modified || got.Version != "dev" {
		t.Fatalf("%+v", got)
	}
	if s := got.String(); s != "dev (commit bbbb-dirty, go1.99.1, linux/amd64)" {
		t.Fatalf("String: %q", s)
	}
}

func TestNoBuildInfo(t *testing.T) {
	got := FromBuildInfo("1.0.0", "", nil, "windows/amd64")
	if got.Commit != "" || got.GoVersion == "" || got.String() == "" {
		t.Fatalf("%+v", got)
	}
	if l := got.Lines(); l != "version:    1.0.0\ncommit:     unknown\ngo:         "+got.GoVersion+"\nplatform:   windows/amd64\n" {
		t.Fatalf("Lines: %q", l)
	}
}
