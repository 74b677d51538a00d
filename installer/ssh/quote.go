package ssh

import "strings"

// Quote returns s as one POSIX shell word: unchanged when it holds only
// characters no shell treats specially, otherwise in single quotes with each
// ' written as '\”. Every remote command line is built with it, so no
// argument is ever split, globbed or expanded by the host's shell.
//
// A NUL byte cannot be passed through a shell; Run rejects lines holding one.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isSafe reports whether every byte of s is outside the shell's special set.
func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("@%_+:,./-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// QuoteArgs quotes each argument and joins them with spaces into one command
// line.
func QuoteArgs(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
