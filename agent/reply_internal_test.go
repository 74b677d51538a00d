package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/messages"
)

// A reply over the limit becomes an error reply that names the sizes, so
// the agent never sends what the controller would drop and the server
// would cut its connection for; a reply within the limit is unchanged.
func TestReplyOverTheLimitBecomesAnErrorReply(t *testing.T) {
	small := messages.Reply{V: messages.Version, ID: "c1", Host: "web-1", Payload: json.RawMessage(`{"ok":true}`)}
	b, err := encodeReplyWithin(small, messages.MaxReplyBytes)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := messages.EncodeReply(small)
	if string(b) != string(want) {
		t.Fatalf("a small reply changed: %s", b)
	}

	big := small
	big.Payload = json.RawMessage(`"` + strings.Repeat("x", messages.MaxReplyBytes) + `"`)
	b, err = encodeReplyWithin(big, messages.MaxReplyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > messages.MaxReplyBytes {
		t.Fatalf("the reply sent is %d bytes, over %d", len(b), messages.MaxReplyBytes)
	}
	r, err := messages.DecodeReply(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "c1" || r.Error == nil || r.Error.Code != messages.CodeInternal || !strings.Contains(r.Error.Message, "limit") || len(r.Payload) != 0 {
		t.Fatalf("got %+v, want an internal error about the limit and no payload", r)
	}
}
