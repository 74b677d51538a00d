package messages

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestEncodeReplyDecodesAsJSONMarshal(t *testing.T) {
	status, _ := json.Marshal(StatusReply{Hostname: "web-1", StartedAt: 42, Facts: Facts{Hostname: "web-1", CPUs: 4, Load1: 0.5}})
	cases := map[string]Reply{
		"payload":           {V: Version, ID: "c1", Host: "web-1", Payload: status},
		"no payload":        {V: Version, ID: "c2", Host: "web-1"},
		"error and payload": {V: Version, ID: "c3", Host: "web-1", Error: &Error{Code: CodeInternal, Message: `a "quoted" failure`}, Payload: json.RawMessage(`{"steps":[]}`)},
		"previous":          {V: Version, ID: "c4", Host: "web-1", Error: &Error{Code: CodeReplayed, Message: "again"}, Previous: &Reply{V: Version, ID: "c4", Host: "web-1", Payload: status}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := EncodeReply(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeReply(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			want, _ := json.Marshal(r)
			wantR, _ := DecodeReply(want)
			if !reflect.DeepEqual(got, wantR) {
				t.Fatalf("EncodeReply gave %s, json.Marshal %s", b, want)
			}
		})
	}
}
