package controller

import (
	"encoding/json"
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

// Fleet-wide answers are encoded host by host so that encoding/json's
// pool does not keep their size; the bytes must be exactly json.Marshal's.
func TestAnswersListingHostsEncodeLikeJSONMarshal(t *testing.T) {
	status := messages.FleetStatusResult{RequestID: `r"responded":null\`, Expected: 3, ElapsedMs: 12.5, TimedOut: true,
		Responded: []messages.HostStatus{{Host: "a", LatencyMs: 1.5, Status: &messages.StatusReply{}},
			{Host: "b", Error: &messages.Error{Code: messages.CodeBadRequest, Message: "<no>"}}},
		Missing: []messages.MissingHost{{Host: "c", Reason: messages.ReasonNotConnected}}}
	hosts := messages.HostListResult{Hosts: []messages.HostRecord{{ID: "a", Labels: map[string]string{"z": "1", "a": "&"}}, {ID: "b"}}}
	check := func(name string, got, want []byte) {
		t.Helper()
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	for _, r := range []messages.FleetStatusResult{status, {}, {Responded: []messages.HostStatus{}, Missing: []messages.MissingHost{}}} {
		resp := messages.APIResponse[messages.FleetStatusResult]{Result: r}
		want, _ := json.Marshal(resp)
		check("fleet status", encodeAnswer(resp), want)
	}
	for _, r := range []messages.HostListResult{hosts, {}, {Hosts: []messages.HostRecord{}}} {
		resp := messages.APIResponse[messages.HostListResult]{Result: r}
		want, _ := json.Marshal(resp)
		check("host list", encodeAnswer(resp), want)
	}
	failed := messages.APIResponse[messages.HostListResult]{Result: hosts, Error: &messages.Error{Code: messages.CodeBadRequest, Message: "no"}}
	want, _ := json.Marshal(failed)
	check("error answer", encodeAnswer(failed), want)
	other := messages.APIResponse[messages.EnrollRequest]{Result: messages.EnrollRequest{Host: "h"}}
	want, _ = json.Marshal(other)
	check("other answer", encodeAnswer(other), want)
}
