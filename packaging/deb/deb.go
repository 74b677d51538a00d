// Package deb builds Foundry's Debian packages with nFPM as a library:
// foundry-agent (the agent, its hardened unit from installer/agentunit,
// maintainer scripts) and foundry (the CLI, man pages, completions).
//
// It is its own Go module so nFPM's dependencies (go-git, OpenPGP, rpm,
// msix and more) stay out of the product's go.mod: the binaries Foundry
// ships never link them, and the product's dependency versions do not
// move when nFPM's do.
//
// Packages are reproducible: every timestamp in them is the commit's time
// (Options.MTime), and contents are listed in a fixed order.
package deb

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/foundry-fleet/foundry/installer/agentunit"
)

// Where the packages install things (Debian paths, not the bootstrap's
// /usr/local and /etc/systemd/system: a unit there would override the
// package's).
const (
	AgentBinary = "/usr/bin/foundry-agent"
	AgentUnit   = "/lib/systemd/system/" + agentunit.UnitName
	CLIBinary   = "/usr/bin/foundry"
)

// Options say what to package.
type Options struct {
	// Version is the release version; a leading "v" is dropped (Debian
	// versions start with a digit).
	Version string
	// Arch is the Go architecture (amd64, arm64), which Debian names alike.
	Arch string
	// Binary is the built executable to ship.
	Binary string
	// MTime is every timestamp in the package: the commit's time.
	MTime time.Time
	// Stage is a scratch directory for generated files (unit, scripts,
	// compressed man pages).
	Stage string
}

func (o Options) validate() error {
	if o.Version == "" || o.Binary == "" || o.Stage == "" || o.MTime.IsZero() {
		return fmt.Errorf("package options need a version, a binary, a stage directory and a time")
	}
	if v := strings.TrimPrefix(o.Version, "v"); v[0] < '0' || v[0] > '9' {
		return fmt.Errorf("version %q must start with a digit (make package VERSION=1.2.3)", o.Version)
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return fmt.Errorf("architecture %q is not packaged (amd64, arm64)", o.Arch)
	}
	return nil
}

func (o Options) info(name, description string) *nfpm.Info {
	return &nfpm.Info{
		Name:        name,
		Arch:        o.Arch,
		Platform:    "linux",
		Version:     strings.TrimPrefix(o.Version, "v"),
		Section:     "admin",
		Priority:    "optional",
		Maintainer:  "Foundry maintainers <foundry@localhost>",
		Description: description,
		Vendor:      "Foundry",
		License:     "Proprietary",
		MTime:       o.MTime.UTC(),
	}
}

func (o Options) file(src, dst string, mode os.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: o.MTime.UTC(), Owner: "root", Group: "root"}}
}

// AgentDescription is the package description; it says what the package
// keeps on remove, which the e2e test holds it to.
const AgentDescription = `Foundry agent: runs commands the Foundry controller signs
 The agent connects to the controller over NATS (TLS, NKey) and runs
 Ed25519-signed commands; systemd runs it hardened (foundry-agent.service).
 .
 The service stays disabled until the host is enrolled ('foundry host add'
 or 'foundry host enroll' writes /etc/foundry/agent.yaml).
 .
 Removing the package keeps the host's identity and state
 (/etc/foundry/agent.yaml, agent.nk, ca.pem and /var/lib/foundry) so a
 reinstall rejoins as the same host; purging deletes them.`

// Agent describes foundry-agent_<version>_<arch>.deb, writing its unit and
// maintainer scripts into o.Stage.
func Agent(o Options) (*nfpm.Info, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	unit, err := agentunit.Render(agentunit.Options{Binary: AgentBinary, Packaged: true})
	if err != nil {
		return nil, err
	}
	staged := map[string]string{"foundry-agent.service": unit, "postinst": PostInst(), "prerm": PreRm(), "postrm": PostRm()}
	for name, body := range staged {
		if err := os.WriteFile(filepath.Join(o.Stage, name), []byte(body), 0o755); err != nil {
			return nil, err
		}
	}
	in := o.info("foundry-agent", AgentDescription)
	in.Depends = []string{"systemd"}
	in.Contents = files.Contents{
		o.file(o.Binary, AgentBinary, 0o755),
		o.file(filepath.Join(o.Stage, "foundry-agent.service"), AgentUnit, 0o644),
	}
	in.Scripts = nfpm.Scripts{
		PostInstall: filepath.Join(o.Stage, "postinst"),
		PreRemove:   filepath.Join(o.Stage, "prerm"),
		PostRemove:  filepath.Join(o.Stage, "postrm"),
	}
	return in, nil
}

// CLI describes foundry_<version>_<arch>.deb: the binary, the man pages
// in manDir (*.1, compressed here) and the completions gendocs wrote
// under compDir.
func CLI(o Options, manDir, compDir string) (*nfpm.Info, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	in := o.info("foundry", `Foundry CLI and controller
 foundry sets up and runs a self-hosted stack on a fleet of Debian and
 Ubuntu hosts: 'foundry controller run' is the controller, every other
 command is a client of it. Man pages: man foundry.`)
	in.Contents = files.Contents{o.file(o.Binary, CLIBinary, 0o755)}
	pages, err := filepath.Glob(filepath.Join(manDir, "*.1"))
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("no man pages in %s (make package runs gendocs first)", manDir)
	}
	sort.Strings(pages)
	gzDir := filepath.Join(o.Stage, "man1")
	if err := os.MkdirAll(gzDir, 0o755); err != nil {
		return nil, err
	}
	for _, p := range pages {
		gz := filepath.Join(gzDir, filepath.Base(p)+".gz")
		if err := gzipFile(p, gz); err != nil {
			return nil, err
		}
		in.Contents = append(in.Contents, o.file(gz, "/usr/share/man/man1/"+filepath.Base(gz), 0o644))
	}
	for _, c := range []string{"bash-completion/completions/foundry", "zsh/vendor-completions/_foundry", "fish/vendor_completions.d/foundry.fish"} {
		src := filepath.Join(compDir, c)
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("completion %s: %w", c, err)
		}
		in.Contents = append(in.Contents, o.file(src, "/usr/share/"+c, 0o644))
	}
	return in, nil
}

// gzipFile compresses without a name or time in the header, so the same
// page always gives the same bytes.
func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Write builds the .deb described by in into w.
func Write(in *nfpm.Info, w io.Writer) error {
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	in = nfpm.WithDefaults(in)
	if err := nfpm.PrepareForPackager(in, "deb"); err != nil {
		return fmt.Errorf("package %s: %w", in.Name, err)
	}
	if err := pkg.Package(in, w); err != nil {
		return fmt.Errorf("package %s: %w", in.Name, err)
	}
	return nil
}

// FileName is the Debian file name of a package: name_version_arch.deb.
func FileName(name string, o Options) string {
	return fmt.Sprintf("%s_%s_%s.deb", name, strings.TrimPrefix(o.Version, "v"), o.Arch)
}
