package messages

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Operators move artifact bytes only through the controller: upload in
// chunks (APIArtifactUpload), then import (APIArtifactImport) to have
// them signed, and read them back (APIArtifactChunks). They have no
// JetStream permission, because NATS checks neither a consumer's deliver
// subject nor a request's reply subject: with access to the artifact
// stream an admin credential could have the server deliver bytes of its
// choosing to any host's command subject.
var (
	APIArtifactUpload = MustAPISubject("artifact", "upload")
	APIArtifactChunks = MustAPISubject("artifact", "chunks")
)

// ArtifactUploadChunkBytes is the size of one uploaded chunk, which the
// store keeps as one message and agents fetch as one. 1 MiB rather than
// the object store client's 128 KiB: each chunk step costs a signed
// request, an answer and a JetStream acknowledgement, and at 256 KiB that
// cost made an upload a third slower (BENCHMARKS.md).
const ArtifactUploadChunkBytes = 1 << 20

// MaxArtifactUploadParts is the most chunks one upload can have: an
// artifact of MaxArtifactBytes in full chunks.
const MaxArtifactUploadParts = MaxArtifactBytes / ArtifactUploadChunkBytes

// MaxArtifactUploadWindow is the most chunk steps a client may have in
// flight at once (ArtifactUploadResult.Window): one round trip per chunk
// would make a large upload wait on latency rather than bandwidth.
const MaxArtifactUploadWindow = 4

// ArtifactUploadRequest is one step of an upload of object Name under
// the upload id Upload (a random token the client chooses, one per
// upload). A step carries the next Chunk, numbered Part from 0; the final
// one sets Done with the Size and SHA256 of the whole, which the
// controller checks against what it stored (every part, in order) before
// the object replaces an earlier one of the same name; Abort discards
// what was sent.
type ArtifactUploadRequest struct {
	Name   string `json:"name"`
	Upload string `json:"upload"`
	Part   int    `json:"part,omitempty"`
	Chunk  []byte `json:"-"` // after the JSON, see EncodeArtifactUploadRequest
	Done   bool   `json:"done,omitempty"`
	Abort  bool   `json:"abort,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// ArtifactUploadResult answers a step: after a chunk, how many chunk
// steps the client may have in flight (Window: 1 when other controllers
// of a cluster may take steps, since they could store pipelined chunks
// out of order); after Done the object's size and digest.
type ArtifactUploadResult struct {
	Window int    `json:"window,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// ArtifactChunksResult answers an operator's ArtifactChunkRequest: up to
// Max chunks in order, each with its stream sequence (to ask after next),
// and End when the object has no more.
type ArtifactChunksResult struct {
	Chunks []ArtifactChunk `json:"chunks,omitempty"`
	End    bool            `json:"end"`
}

// ArtifactChunk is one stored chunk of an object.
type ArtifactChunk struct {
	Seq  uint64 `json:"seq"`
	Data []byte `json:"data"`
}

// ValidArtifactUpload checks an upload step: an object name of the form
// component/version/file, an upload id that is one plain subject token,
// a chunk within bounds, and a final step's size and digest.
func ValidArtifactUpload(r ArtifactUploadRequest) error {
	bad := func(format string, a ...any) error {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, a...)}
	}
	if err := ValidArtifactChunkRequest(ArtifactChunkRequest{Name: r.Name, Max: 1}); err != nil {
		return err
	}
	if len(r.Upload) < 16 || len(r.Upload) > 64 {
		return bad("upload id must be 16 to 64 letters and digits")
	}
	for _, ch := range r.Upload {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
			return bad("upload id must be 16 to 64 letters and digits")
		}
	}
	if r.Part < 0 || r.Part >= MaxArtifactUploadParts {
		return bad("upload part %d is out of bounds (0 to %d)", r.Part, MaxArtifactUploadParts-1)
	}
	if len(r.Chunk) > ArtifactUploadChunkBytes {
		return bad("an upload chunk is %d bytes; send at most %d", len(r.Chunk), ArtifactUploadChunkBytes)
	}
	if r.Done && r.Abort {
		return bad("an upload step cannot both finish and abort")
	}
	if (r.Done || r.Abort) && len(r.Chunk) > 0 {
		return bad("the last upload step carries no chunk")
	}
	if !r.Done && !r.Abort && len(r.Chunk) == 0 {
		return bad("an upload step carries a chunk, or finishes, or aborts")
	}
	if r.Done {
		if r.Size < 0 || r.Size > MaxArtifactBytes {
			return bad("upload size %d is out of bounds (0 to %d)", r.Size, MaxArtifactBytes)
		}
		if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
			return bad("upload sha256 must be 64 hex digits")
		}
	}
	return nil
}

// EncodeArtifactUploadRequest frames an upload step as its JSON, a
// newline, and the chunk's raw bytes. Decoding a chunk as a JSON (base64)
// string cost the controller four fifths of an upload's time; json.Marshal
// never writes a raw newline, so the first one ends the JSON. The API
// signature covers the whole body, chunk included.
func EncodeArtifactUploadRequest(r ArtifactUploadRequest) ([]byte, error) {
	head, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(head)+1+len(r.Chunk))
	b = append(b, head...)
	b = append(b, '\n')
	return append(b, r.Chunk...), nil
}

// DecodeArtifactUploadRequest parses and checks one upload step framed by
// EncodeArtifactUploadRequest.
func DecodeArtifactUploadRequest(b []byte) (ArtifactUploadRequest, error) {
	if len(b) > MaxAPIBytes {
		return ArtifactUploadRequest{}, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("upload step is %d bytes, over the %d limit", len(b), MaxAPIBytes)}
	}
	head, chunk, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return ArtifactUploadRequest{}, &Error{Code: CodeBadRequest, Message: "an upload step is its JSON, a newline and the chunk; upgrade the CLI"}
	}
	r, err := DecodeAPI[ArtifactUploadRequest](head)
	if err != nil {
		return r, err
	}
	if len(chunk) > 0 {
		r.Chunk = chunk
	}
	return r, ValidArtifactUpload(r)
}
