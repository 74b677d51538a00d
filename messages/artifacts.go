package messages

// Artifact endpoints. Import is a write (the controller signs what an
// admin put into the object store); list is a read.
var (
	APIArtifactImport = MustAPISubject("artifact", "import")
	APIArtifactList   = MustAPISubject("artifact", "list")
)

// Object metadata keys under which the controller keeps an artifact's
// digest and signature.
const (
	ArtifactMetaSHA256 = "foundry-sha256"
	ArtifactMetaSize   = "foundry-size"
	ArtifactMetaKeyID  = "foundry-kid"
	ArtifactMetaSig    = "foundry-sig"
)

// ArtifactImportRequest asks the controller to sign files an admin has
// just put into the artifact object store under
// ArtifactObjectName(Component, Version, file).
type ArtifactImportRequest struct {
	Component string   `json:"component"`
	Version   string   `json:"version"`
	Files     []string `json:"files"`
}

// ArtifactListRequest filters the list; empty fields match everything.
type ArtifactListRequest struct {
	Component string `json:"component,omitempty"`
	Version   string `json:"version,omitempty"`
}

// Artifact is one file in the store as the controller sees it. Verified
// is false when the stored bytes no longer match what was signed.
type Artifact struct {
	ArtifactRef
	Imported int64  `json:"imported"` // unix ms
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
}

// ArtifactListResult is the answer to artifact list and import.
type ArtifactListResult struct {
	Artifacts []Artifact `json:"artifacts"`
}
