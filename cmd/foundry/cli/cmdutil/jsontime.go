package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// timeKeys are the JSON fields of Foundry's API and wire types that hold
// a time as Unix milliseconds. The wire keeps milliseconds (agents and
// controllers of other versions read them); what the CLI prints for
// people and scripts is RFC 3339 in UTC, the same everywhere.
var timeKeys = map[string]bool{
	"time": true, "last_seen": true, "first_seen": true, "created": true, "revoked": true,
	"updated": true, "finished": true, "imported": true, "not_after": true, "cert_expires": true,
	"active_since": true, "started_at": true,
}

// rfc3339Times rewrites the millisecond times in the JSON document b (the
// numbers under timeKeys) as RFC 3339 strings with millisecond precision,
// keeping everything else, key order included, as it was. A zero time
// (never) becomes null.
func rfc3339Times(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	if err := rewriteValue(dec, &out, ""); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func rewriteValue(dec *json.Decoder, out *bytes.Buffer, key string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			out.WriteByte('{')
			for i := 0; dec.More(); i++ {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, ok := kt.(string)
				if !ok {
					return fmt.Errorf("object key %v is not a string", kt)
				}
				if i > 0 {
					out.WriteByte(',')
				}
				writeJSONString(out, k)
				out.WriteByte(':')
				if err := rewriteValue(dec, out, k); err != nil {
					return err
				}
			}
			out.WriteByte('}')
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := rewriteValue(dec, out, ""); err != nil {
					return err
				}
			}
			out.WriteByte(']')
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case json.Number:
		if ms, err := v.Int64(); err == nil && timeKeys[key] {
			if ms == 0 {
				out.WriteString("null")
				return nil
			}
			writeJSONString(out, time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00"))
			return nil
		}
		out.WriteString(v.String())
	case string:
		writeJSONString(out, v)
	case bool:
		fmt.Fprint(out, v)
	case nil:
		out.WriteString("null")
	}
	return nil
}

func writeJSONString(out *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	out.Write(b)
}
