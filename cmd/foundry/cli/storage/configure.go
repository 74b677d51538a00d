package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/truenas"
)

// ConfigureOptions are the inputs of `storage configure`. Empty settings
// keep what the config already has.
type ConfigureOptions struct {
	IO   *cmdutil.IOStreams
	Ctx  context.Context
	Deps Deps

	URL         string
	APIKeyRef   string
	CAFile      string
	Dataset     string
	Interactive bool
	NoCheck     bool
	DryRun      bool
	Yes         bool
}

// NewCmdConfigure is `foundry storage configure`.
func NewCmdConfigure(f *cmdutil.Factory, runF func(*ConfigureOptions) error) *cobra.Command {
	opts := &ConfigureOptions{IO: f.IO, Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Write storage.truenas into the stack config, after checking it works",
		Long: `Write the storage.truenas section of the stack config: TrueNAS's URL, a
${secret:...} reference to its API key (default
` + DefaultAPIKeyRef + `), optionally a CA file to verify its
certificate with and the parent dataset Foundry uses.

Before writing, TrueNAS is checked: it must be reachable, its certificate
must verify, and the key must be accepted (storage test also checks write
permission). A failed check writes nothing; --no-check writes anyway.
Settings not given keep their current value; a re-run with the same
settings changes nothing. Replacing a different existing section asks
first (--yes without a terminal).

Store the key itself with: foundry secret set foundry/truenas --key api_key`,
		Example: `  foundry storage configure --url https://truenas.example.com
  foundry storage configure --url https://10.77.0.5 --ca-file ~/truenas-ca.pem --dataset tank/foundry
  foundry storage configure --interactive`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return configureRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.URL, "url", "", "TrueNAS address, such as https://truenas.example.com")
	fl.StringVar(&opts.APIKeyRef, "api-key", "", "secret reference to the API key (default "+DefaultAPIKeyRef+"); never the key itself")
	fl.StringVar(&opts.CAFile, "ca-file", "", "PEM file of the CA that signed TrueNAS's certificate (default: the system's roots)")
	fl.StringVar(&opts.Dataset, "dataset", "", "parent dataset for Foundry's datasets, such as tank/foundry (default: the first pool)")
	fl.BoolVarP(&opts.Interactive, "interactive", "i", false, "ask for each setting")
	fl.BoolVar(&opts.NoCheck, "no-check", false, "write even if TrueNAS cannot be reached or refuses the key")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "check and show the section, write nothing")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "replace an existing, different storage.truenas without asking")
	return cmd
}

func configureRun(o *ConfigureOptions) error {
	ctx := o.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	path, err := o.Deps.ConfigPath()
	if err != nil {
		return err
	}
	f, err := stackconfig.Load(path)
	if err != nil {
		return err
	}
	var t stackconfig.TrueNAS
	if f.Config.Storage != nil && f.Config.Storage.TrueNAS != nil {
		t = *f.Config.Storage.TrueNAS
	}
	apply(&t, o.URL, o.APIKeyRef, o.CAFile, o.Dataset)
	if o.Interactive {
		if err := ask(o.IO, &t); err != nil {
			return err
		}
	}
	if t.APIKey == "" {
		t.APIKey = DefaultAPIKeyRef
	}
	if t.APIURL == "" {
		return cmdutil.FlagErrorf("no TrueNAS URL: pass --url https://<truenas host> or --interactive")
	}
	if _, err := secrets.ParseRef(t.APIKey); err != nil {
		return cmdutil.FlagErrorf("--api-key takes a secret reference such as %s, never the key itself: %v", DefaultAPIKeyRef, err)
	}
	edit, err := stackconfig.RenderTrueNAS(path, t)
	if err != nil {
		return err
	}
	if !o.NoCheck {
		if err := check(ctx, o, f, t); err != nil {
			return err
		}
	}
	switch {
	case !edit.Changed:
		fmt.Fprintf(o.IO.ErrOut, "storage.truenas in %s is already up to date.\n", path)
		return nil
	case o.DryRun:
		fmt.Fprintf(o.IO.Out, "storage:\n  truenas:\n%s", sectionText(t))
		fmt.Fprintf(o.IO.ErrOut, "Dry run: %s not changed.\n", path)
		return nil
	case edit.Replaced:
		if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Replace the existing storage.truenas in %s?", path)); err != nil {
			if errors.Is(err, cmdutil.ErrNeedYes) {
				return fmt.Errorf("%s already has a different storage.truenas; pass --yes to replace it: %w", path, err)
			}
			return err
		}
	}
	if _, err := stackconfig.SetTrueNAS(path, t); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "Wrote storage.truenas to %s. Run foundry storage test to check write permission.\n", path)
	return nil
}

// apply overrides the section's settings with the ones given.
func apply(t *stackconfig.TrueNAS, url, keyRef, caFile, dataset string) {
	set := func(dst *string, v string) {
		if v = strings.TrimSpace(v); v != "" {
			*dst = v
		}
	}
	set(&t.APIURL, url)
	set(&t.APIKey, keyRef)
	set(&t.CAFile, caFile)
	set(&t.Dataset, dataset)
}

// check runs the reachability, TLS and authentication steps against the
// settings about to be written.
func check(ctx context.Context, o *ConfigureOptions, f *stackconfig.File, t stackconfig.TrueNAS) error {
	c, src, err := o.Deps.client(ctx, &f.Config, t)
	if err != nil {
		return fmt.Errorf("nothing written: %w; fix it, or pass --no-check to write the settings anyway", err)
	}
	fmt.Fprintf(o.IO.ErrOut, "Checking TrueNAS at %s with API key %s from %s\n", t.APIURL, src.Ref, src.Source)
	steps := c.Check(ctx, truenas.CheckOptions{})
	if err := printSteps(o.IO, steps); err != nil {
		return err
	}
	if truenas.Failed(steps) {
		s := firstFailure(steps)
		return fmt.Errorf("nothing written: the check failed at %s: %s (or pass --no-check to write anyway)", s.Name, s.Reason)
	}
	return nil
}

// sectionText is the section as the config will hold it, for --dry-run.
func sectionText(t stackconfig.TrueNAS) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "    %s: %s\n", k, v)
		}
	}
	line("api_url", t.APIURL)
	line("api_key", t.APIKey)
	line("s3_endpoint", t.S3Endpoint)
	line("ca_file", t.CAFile)
	line("dataset", t.Dataset)
	return b.String()
}

// ask prompts for each setting on stderr, showing the current value as
// the default. "-" clears an optional setting. On a terminal a bad answer
// is asked again (three times); piped, it fails at once.
func ask(s *cmdutil.IOStreams, t *stackconfig.TrueNAS) error {
	questions := []struct {
		prompt   string
		dst      *string
		def      string
		optional bool
		check    func(string) error
	}{
		{"TrueNAS URL", &t.APIURL, t.APIURL, false, checkURL},
		{"API key secret reference", &t.APIKey, orDefault(t.APIKey, DefaultAPIKeyRef), false, checkRef},
		{"CA file for TrueNAS's certificate (empty: system roots)", &t.CAFile, t.CAFile, true, nil},
		{"Parent dataset for Foundry (empty: the first pool)", &t.Dataset, t.Dataset, true, nil},
	}
	for _, q := range questions {
		for attempt := 1; ; attempt++ {
			prompt := q.prompt
			if q.def != "" {
				prompt += " [" + q.def + "]"
			}
			fmt.Fprint(s.ErrOut, prompt+": ")
			ans, err := readAnswer(s.In)
			if err != nil {
				return fmt.Errorf("read answer to %q: %w", q.prompt, err)
			}
			switch {
			case ans == "" && q.def != "":
				ans = q.def
			case ans == "-" && q.optional:
				ans = ""
			}
			var cerr error
			if ans == "" && !q.optional {
				cerr = errors.New("an answer is needed")
			} else if ans != "" && q.check != nil {
				cerr = q.check(ans)
			}
			if cerr == nil {
				*q.dst = ans
				break
			}
			if !s.IsStdinTTY() || attempt >= 3 {
				return cerr
			}
			fmt.Fprintf(s.ErrOut, "%v; try again.\n", cerr)
		}
	}
	return nil
}

func checkURL(s string) error {
	_, err := truenas.New(truenas.Options{URL: s, APIKey: "-"})
	return err
}

func checkRef(s string) error {
	if _, err := secrets.ParseRef(s); err != nil {
		return fmt.Errorf("give a secret reference such as %s, not the key itself", DefaultAPIKeyRef)
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// readAnswer reads one line a byte at a time, so nothing after it is
// consumed (a later confirmation reads the same stream).
func readAnswer(r io.Reader) (string, error) {
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			line = append(line, buf[0])
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return "", io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(string(line)), nil
}
