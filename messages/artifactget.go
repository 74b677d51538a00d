package messages

import (
	"fmt"
	"strings"
)

// ArtifactGetPrefix is where agents ask the controller for artifact bytes:
// ArtifactGetPrefix.<host>, one subject per host, which only that host's
// fetch connection may publish on. Agents have no JetStream API access at
// all: with it, a push consumer's deliver subject, a pull request's or a
// direct get's reply subject would make the server deliver stream data to
// any subject the agent names (NATS checks neither against the
// requester's permissions). The controller answers only on the asking
// host's own inbox (AgentInbox), whatever reply subject the request
// carries.
const ArtifactGetPrefix = Root + ".artifact.get"

// ArtifactGetSubject is the subject host's agent asks on.
func ArtifactGetSubject(host string) (string, error) {
	if err := ValidHostID(host); err != nil {
		return "", err
	}
	return ArtifactGetPrefix + "." + host, nil
}

// ArtifactGetHost is the host an artifact request came from, from its
// subject.
func ArtifactGetHost(subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, ArtifactGetPrefix+".")
	if !ok || strings.Contains(rest, ".") {
		return "", &Error{Code: CodeBadRequest, Message: fmt.Sprintf("subject %q is not an artifact request subject", subject)}
	}
	return rest, ValidHostID(rest)
}

// InInbox reports whether reply is a subject under host's own inbox, the
// only place the controller sends what an agent asked for.
func InInbox(host, reply string) bool {
	rest, ok := strings.CutPrefix(reply, AgentInbox(host)+".")
	return ok && rest != "" && !strings.ContainsAny(rest, "*> \t\r\n")
}

// MaxArtifactChunksPerRequest bounds one answer: the agent asks again for
// more, so the controller never has more than this in flight per fetch.
const MaxArtifactChunksPerRequest = 16

// ArtifactChunkRequest asks for up to Max chunks of object Name stored
// after stream sequence After (0: from the start). The controller answers
// with one message per chunk (header HeaderArtifactSeq: the chunk's
// sequence, to ask from next) and then one empty message with
// HeaderArtifactEnd set to "more" or "eof", or HeaderArtifactError (a JSON
// Error) instead.
type ArtifactChunkRequest struct {
	Name  string `json:"name"`
	After uint64 `json:"after,omitempty"`
	Max   int    `json:"max"`
}

// Headers of the controller's artifact answers.
const (
	HeaderArtifactSeq   = "Foundry-Artifact-Seq"
	HeaderArtifactEnd   = "Foundry-Artifact-End"
	HeaderArtifactError = "Foundry-Error"
	ArtifactEndMore     = "more"
	ArtifactEndEOF      = "eof"
)

// MaxArtifactRequestBytes bounds an artifact request.
const MaxArtifactRequestBytes = 1024

// DecodeArtifactChunkRequest parses and checks an artifact request: an
// object name of the form component/version/file and a chunk count in
// bounds.
func DecodeArtifactChunkRequest(b []byte) (ArtifactChunkRequest, error) {
	r, err := decode[ArtifactChunkRequest](b, MaxArtifactRequestBytes, "artifact request")
	if err != nil {
		return r, err
	}
	return r, ValidArtifactChunkRequest(r)
}

// ValidArtifactChunkRequest checks an artifact request's name and bounds.
func ValidArtifactChunkRequest(r ArtifactChunkRequest) error {
	if r.Max < 1 || r.Max > MaxArtifactChunksPerRequest {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("artifact request asks for %d chunks; ask for 1 to %d", r.Max, MaxArtifactChunksPerRequest)}
	}
	parts := strings.Split(r.Name, "/")
	if len(parts) != 3 {
		return &Error{Code: CodeBadRequest, Message: "artifact name must be component/version/file"}
	}
	if err := ValidComponent(parts[0]); err != nil {
		return err
	}
	if err := ValidVersion(parts[1]); err != nil {
		return err
	}
	if err := ValidFileName(parts[2]); err != nil {
		return err
	}
	return nil
}
