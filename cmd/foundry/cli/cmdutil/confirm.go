package cmdutil

import (
	"fmt"
	"strings"
)

// Confirm asks a yes/no question on a TTY. Without a TTY it refuses with
// ErrNeedYes, so scripts must state their intent with --yes.
func Confirm(s *IOStreams, yes bool, question string) error {
	if yes {
		return nil
	}
	if !s.IsStdinTTY() {
		return ErrNeedYes
	}
	fmt.Fprintf(s.ErrOut, "%s [y/N] ", question)
	line, err := readLine(s.In)
	if err != nil {
		return ErrCancelled
	}
	switch strings.ToLower(strings.TrimSpace(string(line))) {
	case "y", "yes":
		return nil
	}
	return ErrCancelled
}
