package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Table prints rows as an aligned table with a header on a TTY, and as
// tab-separated rows without a header when piped, so scripts can use cut.
type Table struct {
	io      *IOStreams
	headers []string
	rows    [][]string
}

// NewTable starts a table with the given column headers.
func NewTable(s *IOStreams, headers ...string) *Table {
	return &Table{io: s, headers: headers}
}

// Row adds one row; it must have as many fields as there are headers.
func (t *Table) Row(fields ...string) { t.rows = append(t.rows, fields) }

// Render writes the table.
func (t *Table) Render() error {
	if !t.io.IsStdoutTTY() {
		for _, r := range t.rows {
			if _, err := fmt.Fprintln(t.io.Out, strings.Join(r, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(t.io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(t.headers, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

// WriteJSON prints v as indented JSON; --json output short-circuits every
// other form.
// Times are RFC 3339 (rfc3339Times).
func WriteJSON(w io.Writer, v any) error {
	b, err := encodeJSON(v)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

// encodeJSON is v as compact JSON with its times in RFC 3339.
func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return rfc3339Times(b)
}

// FormatTime renders a time as "12s ago" on a TTY and RFC 3339 when piped.
func FormatTime(s *IOStreams, t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if !s.IsStdoutTTY() {
		return t.UTC().Format(time.RFC3339)
	}
	return Ago(now.Sub(t))
}

// Ago renders a duration in the past compactly.
func Ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// Bytes renders a byte count in binary units.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// WriteJSONLine prints v as one compact JSON line, for streams.
// Times are RFC 3339, as in WriteJSON.
func WriteJSONLine(w io.Writer, v any) error {
	b, err := encodeJSON(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
