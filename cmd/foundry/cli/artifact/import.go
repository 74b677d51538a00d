package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/installer/helm"
	"github.com/foundry-fleet/foundry/messages"
)

// ImportOptions are the arguments and flags of `artifact import`.
type ImportOptions struct {
	IO        *cmdutil.IOStreams
	Connect   func(context.Context) (*client.Client, error)
	Component string
	Version   string
	Path      string // a file or a directory
	Name      string // --name: the file name in the store (single file only)
	JSON      bool
	// Registry finds the stack's OCI registry, where imported charts are
	// pushed for the cluster; nil pushes nothing.
	Registry func(context.Context, *client.Client) (helm.Registry, error)
}

// NewCmdImport is `foundry artifact import <component> <version> <file-or-dir>`.
func NewCmdImport(f *cmdutil.Factory, runF func(context.Context, *ImportOptions) error) *cobra.Command {
	o := &ImportOptions{IO: f.IO, Connect: f.Connect, Registry: clicomp.NewEnv(f).StackRegistry}
	cmd := &cobra.Command{
		Use:   "import <component> <version> <file-or-dir>",
		Short: "Upload files to the artifact store and have the controller sign them",
		Long: `Upload a file, or every regular file of a directory (not recursive, hidden
files skipped), to the controller's artifact store as
<component>/<version>/<file>, then have the controller read the stored bytes
back and sign their sha256. Importing the same bytes again is harmless.

A Helm chart of a cluster component (grafana, cert-manager, ...) must be
<chart>-<version>.tgz holding that chart and version; it is also pushed to
the stack's OCI registry as oci://<registry>/charts/<chart>:<version>, where
installs take it from (or from the artifact store when the registry is not
reachable). Without a reachable registry the import still succeeds, and
says so; importing again pushes it.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Component, o.Version, o.Path = args[0], args[1], args[2]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return importRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Name, "name", "", "file name in the store (default: the file's base name; single file only)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// localFile is one file to import: where it is and what to call it.
type localFile struct {
	path  string
	name  string
	size  int64
	chart string // the Helm chart's name when the file is one
}

// imported is one file's outcome: the controller's record plus the digest
// this CLI computed over the bytes it sent.
type imported struct {
	messages.Artifact
	LocalSHA256 string `json:"local_sha256"`
	// Registry is where a chart was pushed (oci://…), or empty.
	Registry       string `json:"registry,omitempty"`
	RegistryDigest string `json:"registry_digest,omitempty"`
}

func importRun(ctx context.Context, o *ImportOptions) error {
	files, err := planImport(o)
	if err != nil {
		return err
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	var done []imported
	for _, f := range files {
		res, err := importOne(ctx, o, cl, f)
		if err != nil {
			if o.JSON && len(done) > 0 {
				_ = cmdutil.WriteJSON(o.IO.Out, done)
			}
			return err
		}
		if f.chart != "" {
			res.Registry, res.RegistryDigest = pushChart(ctx, o, cl, f, res.SHA256)
		}
		done = append(done, res)
		if !o.JSON {
			printImported(o.IO, res)
		}
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, done)
	}
	return nil
}

// planImport checks everything that can be checked without the
// controller, so a bad name or an oversized file fails before any upload.
func planImport(o *ImportOptions) ([]localFile, error) {
	if err := messages.ValidComponent(o.Component); err != nil {
		return nil, &cmdutil.FlagError{Err: err}
	}
	if err := messages.ValidVersion(o.Version); err != nil {
		return nil, &cmdutil.FlagError{Err: err}
	}
	if o.Name != "" {
		if err := messages.ValidFileName(o.Name); err != nil {
			return nil, cmdutil.FlagErrorf("--name: %v", err)
		}
	}
	st, err := os.Stat(o.Path)
	if err != nil {
		return nil, fmt.Errorf("%w; pass an existing file or directory", err)
	}
	var files []localFile
	switch {
	case st.IsDir():
		if o.Name != "" {
			return nil, cmdutil.FlagErrorf("--name renames a single file; drop it to import the directory %s", o.Path)
		}
		if files, err = dirFiles(o.Path); err != nil {
			return nil, err
		}
	case st.Mode().IsRegular():
		name := o.Name
		if name == "" {
			name = filepath.Base(o.Path)
			if err := messages.ValidFileName(name); err != nil {
				return nil, fmt.Errorf("%v; pass --name to import it under a valid name", err)
			}
		}
		files = []localFile{{path: o.Path, name: name, size: st.Size()}}
	default:
		return nil, fmt.Errorf("%s is not a regular file or a directory; import a file or a directory of files", o.Path)
	}
	for i, f := range files {
		if err := checkSize(f.path, f.size); err != nil {
			return nil, err
		}
		if files[i].chart, err = checkChart(o, f); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// dirFiles lists the regular files directly in dir, skipping hidden ones
// and subdirectories. A symlink is followed only when it resolves to a
// regular file inside dir.
func dirFiles(dir string) ([]localFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve directory %s: %w", dir, err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return nil, err
	}
	var files []localFile
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		switch {
		case e.Type()&os.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil, fmt.Errorf("%s is a broken symlink; remove it or import the files one by one", p)
			}
			if target, err = filepath.Abs(target); err != nil {
				return nil, err
			}
			if rel, err := filepath.Rel(real, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return nil, fmt.Errorf("%s is a symlink to %s outside %s; copy the file into the directory instead", p, target, dir)
			}
			st, err := os.Stat(target)
			if err != nil {
				return nil, err
			}
			if !st.Mode().IsRegular() {
				continue
			}
			files = append(files, localFile{path: p, name: name, size: st.Size()})
		case e.Type().IsRegular():
			info, err := e.Info()
			if err != nil {
				return nil, err
			}
			files = append(files, localFile{path: p, name: name, size: info.Size()})
		default:
			continue // subdirectories, sockets, devices
		}
		if err := messages.ValidFileName(name); err != nil {
			return nil, fmt.Errorf("%s: %v; rename it or import it alone with --name", p, err)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no regular files to import (hidden files and subdirectories are skipped)", dir)
	}
	return files, nil
}

func checkSize(path string, size int64) error {
	if size > messages.MaxArtifactBytes {
		return fmt.Errorf("%s is %s, over the %s limit for one artifact; split it or import a smaller build",
			path, cmdutil.Bytes(uint64(size)), cmdutil.Bytes(messages.MaxArtifactBytes))
	}
	if size == 0 {
		return fmt.Errorf("%s is empty; import the built file, not a placeholder", path)
	}
	return nil
}

// errTooLarge stops an upload whose file grew past the limit after it was
// checked.
var errTooLarge = fmt.Errorf("the file grew past the %s artifact limit while uploading", cmdutil.Bytes(messages.MaxArtifactBytes))

// hashingReader digests and counts what the upload reads, refuses to go
// past the artifact limit, and reports progress.
type hashingReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	progress func(int64)
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if h.n+int64(n) > messages.MaxArtifactBytes {
		return 0, errTooLarge
	}
	h.n += int64(n)
	h.h.Write(p[:n])
	if h.progress != nil && n > 0 {
		h.progress(h.n)
	}
	return n, err
}

// importOne uploads one file, has the controller sign it, and checks that
// what was signed is what this CLI sent.
func importOne(ctx context.Context, o *ImportOptions, cl *client.Client, f localFile) (imported, error) {
	name := messages.ArtifactObjectName(o.Component, o.Version, f.name)
	fh, err := os.Open(f.path)
	if err != nil {
		return imported{}, fmt.Errorf("open %s: %w", f.path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return imported{}, fmt.Errorf("read %s: %w", f.path, err)
	}
	if !st.Mode().IsRegular() {
		return imported{}, fmt.Errorf("%s is no longer a regular file; check what replaced it and re-run the import", f.path)
	}
	if err := checkSize(f.path, st.Size()); err != nil {
		return imported{}, err
	}
	size := st.Size()
	progress := o.IO.IsStdoutTTY() && !o.JSON
	hr := &hashingReader{r: fh, h: sha256.New()}
	if progress {
		var last time.Time
		hr.progress = func(n int64) {
			if now := time.Now(); n >= size || now.Sub(last) >= 100*time.Millisecond {
				last = now
				fmt.Fprintf(o.IO.ErrOut, "\r\033[Kuploading %s %s / %s", name, cmdutil.Bytes(uint64(n)), cmdutil.Bytes(uint64(size)))
			}
		}
	}
	err = cl.UploadArtifact(ctx, o.Component, o.Version, f.name, hr)
	if progress {
		fmt.Fprint(o.IO.ErrOut, "\r\033[K")
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return imported{}, fmt.Errorf("%s: %w; import it once it stops changing", f.path, errTooLarge)
		}
		return imported{}, fmt.Errorf("upload %s: %w", f.path, err)
	}
	local := hex.EncodeToString(hr.h.Sum(nil))
	if progress {
		fmt.Fprintf(o.IO.ErrOut, "signing %s ...", name)
	}
	res, err := cl.ImportArtifact(ctx, messages.ArtifactImportRequest{Component: o.Component, Version: o.Version, Files: []string{f.name}})
	if progress {
		fmt.Fprint(o.IO.ErrOut, "\r\033[K")
	}
	if err != nil {
		return imported{}, fmt.Errorf("import %s: %w", name, err)
	}
	if len(res.Artifacts) != 1 || res.Artifacts[0].ObjectName() != name {
		return imported{}, fmt.Errorf("the controller answered the import of %s with %d other artifacts; check foundry artifact list and upgrade the CLI or controller", name, len(res.Artifacts))
	}
	a := res.Artifacts[0]
	if !strings.EqualFold(a.SHA256, local) || a.Size != hr.n {
		return imported{}, fmt.Errorf("SHA256 MISMATCH for %s: the controller signed %s (%d bytes) but this CLI uploaded %s (%d bytes); something else wrote the artifact store during the import, so do not deploy it: find the writer and import again",
			name, a.SHA256, a.Size, local, hr.n)
	}
	if !a.Verified {
		return imported{}, fmt.Errorf("the controller signed %s but it does not verify (%s); check the controller's signing keys with foundry controller info", name, a.Problem)
	}
	return imported{Artifact: a, LocalSHA256: local}, nil
}

// printImported shows one imported file: an indented block on a terminal,
// one tab-separated line (name, bytes, controller sha256, local sha256,
// key id) when piped.
func printImported(s *cmdutil.IOStreams, r imported) {
	if !s.IsStdoutTTY() {
		fmt.Fprintf(s.Out, "%s\t%d\t%s\t%s\t%s\n", r.ObjectName(), r.Size, r.SHA256, r.LocalSHA256, r.KeyID)
		return
	}
	fmt.Fprintf(s.Out, "%s  %s  signed by %s\n", r.ObjectName(), cmdutil.Bytes(uint64(r.Size)), r.KeyID)
	fmt.Fprintf(s.Out, "  sha256 %s (controller)\n", r.SHA256)
	fmt.Fprintf(s.Out, "  sha256 %s (local, matches)\n", r.LocalSHA256)
}
