package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

// maxAttempts bounds how often the wizard re-asks on a terminal.
const maxAttempts = 3

// wizard asks questions on stderr and reads answers from stdin. On a
// terminal a bad answer is asked again; piped, it fails at once, so a
// script never loops.
type wizard struct {
	o  *InitOptions
	in *bufio.Reader
}

// runWizard fills the settings that flags did not give.
func runWizard(o *InitOptions) error {
	w := &wizard{o: o, in: bufio.NewReader(o.IO.In)}
	var err error
	if o.Name == "" {
		if o.Name, err = w.ask("Cluster name (lower case, e.g. production): ", stackconfig.ValidName); err != nil {
			return err
		}
	}
	if o.Domain == "" {
		check := func(s string) error { return stackconfig.ValidDomain(strings.ToLower(s)) }
		if o.Domain, err = w.ask("Cluster domain (e.g. example.com): ", check); err != nil {
			return err
		}
		o.Domain = strings.ToLower(o.Domain)
	}
	if len(o.Hosts) == 0 {
		if err := w.hosts(); err != nil {
			return err
		}
	}
	if len(o.Components) == 0 {
		def := strings.Join(stackconfig.DefaultComponents(), ",")
		ans, err := w.askDefault(fmt.Sprintf("Components, comma-separated [%s]: ", def), def, checkComponents)
		if err != nil {
			return err
		}
		o.Components = splitList(ans)
	}
	if o.DNSProvider == "" && contains(o.Components, "external-dns") {
		if o.DNSProvider, err = w.ask("DNS provider for external-dns (e.g. cloudflare): ", nonEmpty); err != nil {
			return err
		}
	}
	return nil
}

func (w *wizard) hosts() error {
	fmt.Fprintln(w.o.IO.ErrOut, "Hosts, one per line as HOSTNAME or HOSTNAME,ROLE (control-plane or worker; the first defaults to control-plane).")
	for {
		prompt := "Host (empty line when done): "
		if len(w.o.Hosts) == 0 {
			prompt = "Host: "
		}
		line, err := w.line(prompt)
		if errors.Is(err, errWizardEOF) && len(w.o.Hosts) > 0 {
			return nil
		}
		if err != nil {
			return err
		}
		if line == "" {
			if len(w.o.Hosts) > 0 {
				return nil
			}
			if err := w.retry(errors.New("at least one host is needed")); err != nil {
				return err
			}
			continue
		}
		h, err := parseHost(line)
		if err == nil {
			err = stackconfig.ValidHostname(h.Hostname)
		}
		if err != nil {
			if err := w.retry(err); err != nil {
				return err
			}
			continue
		}
		w.o.Hosts = append(w.o.Hosts, line)
	}
}

// ask reads an answer that check accepts.
func (w *wizard) ask(prompt string, check func(string) error) (string, error) {
	return w.askDefault(prompt, "", check)
}

func (w *wizard) askDefault(prompt, def string, check func(string) error) (string, error) {
	for attempt := 1; ; attempt++ {
		ans, err := w.line(prompt)
		if err != nil {
			return "", err
		}
		if ans == "" {
			ans = def
		}
		cerr := check(ans)
		if cerr == nil {
			return ans, nil
		}
		if !w.o.IO.IsStdinTTY() || attempt >= maxAttempts {
			return "", cerr
		}
		fmt.Fprintf(w.o.IO.ErrOut, "%v; try again.\n", cerr)
	}
}

// retry reports a bad answer: on a terminal, say so and go on; piped, fail.
func (w *wizard) retry(err error) error {
	if !w.o.IO.IsStdinTTY() {
		return err
	}
	fmt.Fprintf(w.o.IO.ErrOut, "%v; try again.\n", err)
	return nil
}

func (w *wizard) line(prompt string) (string, error) {
	fmt.Fprint(w.o.IO.ErrOut, prompt)
	s, err := w.in.ReadString('\n')
	switch {
	case errors.Is(err, io.EOF) && s == "":
		return "", errWizardEOF
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("read answer: %w", err)
	}
	return strings.TrimSpace(s), nil
}

func checkComponents(s string) error {
	known := stackconfig.KnownComponents()
	for _, c := range splitList(s) {
		if !contains(known, c) {
			return fmt.Errorf("unknown component %q (known: %s)", c, strings.Join(known, ", "))
		}
	}
	return nil
}

func nonEmpty(s string) error {
	if s == "" {
		return errors.New("an answer is needed")
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
