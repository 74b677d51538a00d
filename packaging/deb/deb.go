// Package deb builds Foundry's Debian packages: foundry-agent (the agent,
// its hardened unit from installer/agentunit, maintainer scripts) and
// foundry (the CLI, man pages, completions), for `make package`.
//
// It writes the .deb itself with the standard library, not with nFPM: a
// .deb is an ar archive of three members (debian-binary, control.tar.gz,
// data.tar.gz), a couple of hundred lines, while nFPM's dependencies
// (go-git, OpenPGP, rpm and msix writers) cost 12.5 minutes of a cold CI
// run whose whole budget is 45.
//
// Packages are reproducible: every timestamp in them is Options.MTime
// (the commit's time), owners are root:root, contents are sorted, and the
// gzip headers carry no name and no time.
package deb

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/installer/agentunit"
)

// Where the packages install things (Debian paths: /usr/bin and
// /lib/systemd/system belong to packages; /usr/local and
// /etc/systemd/system to the administrator).
const (
	AgentBinary  = agentunit.DefaultBinary
	AgentUnit    = agentunit.UnitPath
	CLIBinary    = "/usr/bin/foundry"
	AgentPackage = agentunit.PackageName
)

// Options say what to package.
type Options struct {
	// Version is the release version; a leading "v" is dropped (Debian
	// versions start with a digit).
	Version string
	// Arch is the Go architecture (amd64, arm64), which Debian names alike.
	Arch string
	// Binary is the built executable to ship (a path), unless BinaryData
	// holds it.
	Binary string
	// BinaryData is the executable itself, for callers that have it in
	// memory (host add); it wins over Binary.
	BinaryData []byte
	// MTime is every timestamp in the package: the commit's time.
	MTime time.Time
}

func (o Options) validate() error {
	if o.Version == "" || (o.Binary == "" && o.BinaryData == nil) || o.MTime.IsZero() {
		return fmt.Errorf("package options need a version, a binary and a time")
	}
	if v := strings.TrimPrefix(o.Version, "v"); v == "" || v[0] < '0' || v[0] > '9' {
		return fmt.Errorf("version %q must start with a digit (make package VERSION=1.2.3)", o.Version)
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return fmt.Errorf("architecture %q is not packaged (amd64, arm64)", o.Arch)
	}
	return nil
}

// Package describes one .deb; Write turns it into bytes.
type Package struct {
	Name    string
	Version string // Debian version: starts with a digit
	Arch    string
	// Description is the control field: a one-line synopsis, then the
	// long description with every line indented by one space (" ." for
	// an empty line).
	Description string
	Depends     []string
	MTime       time.Time
	Files       []File
	// Conffiles are paths among Files that dpkg keeps across upgrades
	// and removes only on purge.
	Conffiles []string
	// Scripts are the maintainer scripts by name (postinst, prerm,
	// postrm, preinst); each is installed with mode 0755.
	Scripts map[string]string
	// Uncompressed writes data.tar instead of data.tar.gz (dpkg reads
	// both): for a package built to be installed at once over a LAN
	// (host add), where compressing a 9 MB agent costs more time than
	// sending it.
	Uncompressed bool
}

// File is one file the package installs.
type File struct {
	Path string // absolute path on the host
	Mode os.FileMode
	// Source is a file to read when the package is written, unless Data
	// holds the contents.
	Source string
	Data   []byte
}

func (o Options) pkg(name, description string) *Package {
	return &Package{
		Name:        name,
		Version:     strings.TrimPrefix(o.Version, "v"),
		Arch:        o.Arch,
		Description: description,
		MTime:       o.MTime.UTC(),
	}
}

func (o Options) binary(dst string) File {
	return File{Path: dst, Mode: 0o755, Source: o.Binary, Data: o.BinaryData}
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

// Agent describes foundry-agent_<version>_<arch>.deb.
func Agent(o Options) (*Package, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	unit, err := agentunit.Render(agentunit.Options{Binary: AgentBinary, Packaged: true})
	if err != nil {
		return nil, err
	}
	p := o.pkg(AgentPackage, AgentDescription)
	p.Depends = []string{"systemd"}
	p.Files = []File{
		o.binary(AgentBinary),
		{Path: AgentUnit, Mode: 0o644, Data: []byte(unit)},
	}
	p.Scripts = map[string]string{"postinst": PostInst(), "prerm": PreRm(), "postrm": PostRm()}
	return p, nil
}

// CLI describes foundry_<version>_<arch>.deb: the binary, the man pages
// in manDir (*.1, compressed here) and the completions gendocs wrote
// under compDir.
func CLI(o Options, manDir, compDir string) (*Package, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	p := o.pkg("foundry", `Foundry CLI and controller
 foundry sets up and runs a self-hosted stack on a fleet of Debian and
 Ubuntu hosts: 'foundry controller run' is the controller, every other
 command is a client of it. Man pages: man foundry.`)
	p.Files = []File{o.binary(CLIBinary)}
	pages, err := filepath.Glob(filepath.Join(manDir, "*.1"))
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("no man pages in %s (make package runs gendocs first)", manDir)
	}
	sort.Strings(pages)
	for _, page := range pages {
		gz, err := gzipFile(page)
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, File{Path: "/usr/share/man/man1/" + filepath.Base(page) + ".gz", Mode: 0o644, Data: gz})
	}
	for _, c := range []string{"bash-completion/completions/foundry", "zsh/vendor-completions/_foundry", "fish/vendor_completions.d/foundry.fish"} {
		src := filepath.Join(compDir, c)
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("completion %s: %w", c, err)
		}
		p.Files = append(p.Files, File{Path: "/usr/share/" + c, Mode: 0o644, Source: src})
	}
	return p, nil
}

// gzipFile compresses without a name or time in the header, so the same
// page always gives the same bytes.
func gzipFile(src string) ([]byte, error) {
	in, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := zw.Write(in); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fileData is a File with its contents read.
type fileData struct {
	path string
	mode os.FileMode
	data []byte
}

// Write writes the .deb p describes to w.
func Write(p *Package, w io.Writer) error {
	if err := p.check(); err != nil {
		return fmt.Errorf("package %s: %w", p.Name, err)
	}
	files := make([]fileData, 0, len(p.Files))
	size := 0
	for _, f := range p.Files {
		data := f.Data
		if data == nil {
			b, err := os.ReadFile(f.Source)
			if err != nil {
				return fmt.Errorf("package %s: %w", p.Name, err)
			}
			data = b
		}
		files = append(files, fileData{path: f.Path, mode: f.Mode, data: data})
		size += len(data)
	}
	control := []tarEntry{{name: "./", mode: 0o755, dir: true}, {name: "./control", mode: 0o644, data: p.control(size)}}
	if len(p.Conffiles) > 0 {
		cf := append([]string(nil), p.Conffiles...)
		sort.Strings(cf)
		control = append(control, tarEntry{name: "./conffiles", mode: 0o644, data: []byte(strings.Join(cf, "\n") + "\n")})
	}
	control = append(control, tarEntry{name: "./md5sums", mode: 0o644, data: md5sums(files)})
	scripts := make([]string, 0, len(p.Scripts))
	for name := range p.Scripts {
		scripts = append(scripts, name)
	}
	sort.Strings(scripts)
	for _, name := range scripts {
		control = append(control, tarEntry{name: "./" + name, mode: 0o755, data: []byte(p.Scripts[name])})
	}
	controlTar, err := tarGz(control, p.MTime)
	if err != nil {
		return fmt.Errorf("package %s: %w", p.Name, err)
	}
	data, dataName := tarGz, "data.tar.gz"
	if p.Uncompressed {
		data, dataName = plainTar, "data.tar"
	}
	dataTar, err := data(dataEntries(files), p.MTime)
	if err != nil {
		return fmt.Errorf("package %s: %w", p.Name, err)
	}
	return writeAr(w, p.MTime, []arMember{
		{"debian-binary", []byte("2.0\n")},
		{"control.tar.gz", controlTar},
		{dataName, dataTar},
	})
}

func (p *Package) check() error {
	if p.Name == "" || p.Version == "" || p.Arch == "" || p.MTime.IsZero() {
		return fmt.Errorf("a package needs a name, a version, an architecture and a time")
	}
	first, _, _ := strings.Cut(p.Description, "\n")
	if strings.TrimSpace(first) == "" {
		return fmt.Errorf("a package needs a description")
	}
	paths := map[string]bool{}
	for _, f := range p.Files {
		if !strings.HasPrefix(f.Path, "/") || strings.HasSuffix(f.Path, "/") || filepath.Clean(f.Path) != f.Path {
			return fmt.Errorf("file path %q must be absolute and clean", f.Path)
		}
		if paths[f.Path] {
			return fmt.Errorf("file %s is listed twice", f.Path)
		}
		paths[f.Path] = true
	}
	for _, c := range p.Conffiles {
		if !paths[c] {
			return fmt.Errorf("conffile %s is not among the package's files", c)
		}
	}
	for name := range p.Scripts {
		switch name {
		case "preinst", "postinst", "prerm", "postrm":
		default:
			return fmt.Errorf("maintainer script %q is not one dpkg runs", name)
		}
	}
	return nil
}

// control is the control file (deb-control(5)); Installed-Size is in KiB.
func (p *Package) control(size int) []byte {
	var b strings.Builder
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	field("Package", p.Name)
	field("Version", p.Version)
	field("Section", "admin")
	field("Priority", "optional")
	field("Architecture", p.Arch)
	field("Maintainer", "Foundry maintainers <foundry@localhost>")
	field("Installed-Size", fmt.Sprint((size+1023)/1024))
	field("Depends", strings.Join(p.Depends, ", "))
	field("Description", strings.TrimRight(p.Description, "\n"))
	return []byte(b.String())
}

// FileName is the Debian file name of a package: name_version_arch.deb.
func FileName(name string, o Options) string {
	return fmt.Sprintf("%s_%s_%s.deb", name, strings.TrimPrefix(o.Version, "v"), o.Arch)
}
