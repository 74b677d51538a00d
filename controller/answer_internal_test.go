package controller

import (
	"strings"
	"testing"

	"github.com/foundry-fleet/foundry/messages"
)

// An answer over the message limit becomes an error that says what to do,
// instead of a message NATS drops (the caller would see a timeout).
func TestAnswerOverTheLimitBecomesAnError(t *testing.T) {
	small := []byte(`{"result":{}}`)
	if got := fitAnswer(small, 64); string(got) != string(small) {
		t.Fatalf("an answer within the limit was changed: %s", got)
	}
	big := []byte(`{"result":{"hosts":["` + strings.Repeat("h", 3<<20) + `"]}}`)
	got := fitAnswer(big, 1<<20)
	resp, err := messages.DecodeAPI[messages.APIResponse[struct{}]](got)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Error == nil || !strings.Contains(resp.Error.Message, "3.0 MiB, over the 1 MiB limit") ||
		!strings.Contains(resp.Error.Message, "--summary") {
		t.Fatalf("got %s", got)
	}
}
