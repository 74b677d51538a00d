package messages

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Host service verbs: an agent installs, checks and removes a component
// that runs as a native systemd service on its host. Plan and status
// change nothing and are read-only verbs.
const (
	VerbServiceApply  = "service_apply"
	VerbServicePlan   = "service_plan"
	VerbServiceStatus = "service_status"
	VerbServiceRemove = "service_remove"
)

// The host layout of a service is fixed here, not sent in commands, so a
// command can never make an agent write outside these places: the binary
// in a per-version directory (an upgrade never overwrites the running
// version, and a failed one can go back to it), configuration beside the
// agent's own, the unit under the foundry- prefix, and data in a
// StateDirectory systemd owns. The k3s component has a layout of its own
// (see K3sComponent).
const (
	ServiceBinRoot    = "/opt/foundry/components"
	ServiceConfigRoot = "/etc/foundry/components"
	ServiceUnitDir    = "/etc/systemd/system"
	ServiceDataRoot   = "/var/lib"
)

// ServiceUnit is the unit name of a component's service.
func ServiceUnit(component string) string { return "foundry-" + component + ".service" }

// ServiceBinDir is where a version's artifact files are installed.
func ServiceBinDir(component, version string) string {
	return path.Join(ServiceBinRoot, component, version)
}

// ServiceConfigDir holds a component's configuration files.
func ServiceConfigDir(component string) string { return path.Join(ServiceConfigRoot, component) }

// ServiceDataDir is the component's StateDirectory.
func ServiceDataDir(component string) string {
	return path.Join(ServiceDataRoot, "foundry-"+component)
}

var (
	componentRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}[a-z0-9]$`)
	versionRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	fileRe      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
)

// ValidComponent says why name cannot name a component, or nil.
func ValidComponent(name string) error {
	if !componentRe.MatchString(name) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("component name %q must be 2-32 lowercase letters, digits or '-'", name)}
	}
	return nil
}

// ValidVersion says why v cannot be a version label, or nil. Versions
// become path elements, so they may not contain '/' or start with '.'.
func ValidVersion(v string) error {
	if !versionRe.MatchString(v) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("version %q must be 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit", v)}
	}
	return nil
}

// ValidFileName says why name cannot name an artifact or config file.
func ValidFileName(name string) error {
	if !fileRe.MatchString(name) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("file name %q must be 1-100 letters, digits, '.', '_' or '-', with no directory", name)}
	}
	return nil
}

// ArtifactRef names one signed file in the artifact store and carries
// what the controller recorded at import: its size, sha256 and the
// controller's signature over both (see ArtifactSigningBytes). The agent
// checks the bytes it fetches against SHA256 (which the signed command
// carries) and the signature against the keys it trusts.
type ArtifactRef struct {
	Component string `json:"component"`
	Version   string `json:"version"`
	File      string `json:"file"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"` // hex
	KeyID     string `json:"kid"`
	Sig       []byte `json:"sig"`
}

// ObjectName is the artifact's name in the object store.
func (a ArtifactRef) ObjectName() string { return ArtifactObjectName(a.Component, a.Version, a.File) }

// ArtifactObjectName is "<component>/<version>/<file>".
func ArtifactObjectName(component, version, file string) string {
	return component + "/" + version + "/" + file
}

// ArtifactBucket is the JetStream object store of imported artifacts.
const ArtifactBucket = "foundry_artifacts"

// MaxArtifactBytes bounds one artifact file (an OpenBAO or registry
// binary is 30-150 MB).
const MaxArtifactBytes = 512 << 20

// ArtifactSigningBytes is what the controller signs at import: a
// length-prefixed encoding of the name, size and digest, so a signature
// for one artifact can never vouch for another.
func ArtifactSigningBytes(component, version, file string, size int64, sha256hex string) []byte {
	b := []byte("foundry-artifact\x00")
	for _, s := range []string{component, version, file, fmt.Sprint(size), strings.ToLower(sha256hex)} {
		b = appendString(b, s)
	}
	return b
}

// ServiceFile is a configuration file written to the component's config
// directory (K3sConfigDir for k3s). Files are mode 0644, readable by the
// service's dynamic user. A Secret file is mode 0600 and root's: its
// content never appears in a reply, a plan or a log line, and a sandboxed
// service gets it through systemd's LoadCredential= (it reads
// $CREDENTIALS_DIRECTORY/<name>), since its dynamic user cannot read it.
type ServiceFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
	Secret  bool   `json:"secret,omitempty"`
}

// ServiceHealth is how an agent tells a running service is healthy: an
// HTTP GET on the host that answers with one of OK (200 when empty).
type ServiceHealth struct {
	URL string `json:"url"`
	OK  []int  `json:"ok,omitempty"`
	// CAFile is a PEM file on the host that an https URL's certificate
	// must chain to (k3s: its server CA). It is read at each check, since
	// a service may create it only once it runs.
	CAFile string `json:"ca_file,omitempty"`
}

// Validate checks the URL's scheme and the CA file's path.
func (h ServiceHealth) Validate() error {
	if !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
		return &Error{Code: CodeBadRequest, Message: "service health URL must be http:// or https://"}
	}
	if h.CAFile == "" {
		return nil
	}
	if !strings.HasPrefix(h.URL, "https://") {
		return &Error{Code: CodeBadRequest, Message: "a service health CA file is only for an https:// URL"}
	}
	if !path.IsAbs(h.CAFile) || path.Clean(h.CAFile) != h.CAFile || strings.Contains(h.CAFile, "..") ||
		strings.ContainsAny(h.CAFile, "\n\r\x00") || len(h.CAFile) > 512 {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("service health CA file %q must be a clean absolute path without '..'", h.CAFile)}
	}
	return nil
}

// ServiceSpec is the desired state of one host service: the payload of
// service_apply and service_plan. It is the same for every host of the
// component, so one signed command serves a whole batch.
type ServiceSpec struct {
	Component string `json:"component"`
	Version   string `json:"version"`
	// Artifact is the executable; it is installed at
	// ServiceBinDir(component, version)/Artifact.File.
	Artifact ArtifactRef   `json:"artifact"`
	Args     []string      `json:"args,omitempty"`
	Files    []ServiceFile `json:"files,omitempty"`
	Health   ServiceHealth `json:"health"`
	// Description goes into the unit.
	Description string `json:"description,omitempty"`
}

// Validate bounds a spec so a command cannot make an agent write outside
// the fixed layout or build a unit systemd would read differently.
func (s ServiceSpec) Validate() error {
	if err := ValidComponent(s.Component); err != nil {
		return err
	}
	if err := ValidVersion(s.Version); err != nil {
		return err
	}
	a := s.Artifact
	if a.Component != s.Component || a.Version != s.Version {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("artifact %s is not %s %s", a.ObjectName(), s.Component, s.Version)}
	}
	if err := ValidFileName(a.File); err != nil {
		return err
	}
	if len(a.SHA256) != 64 || strings.Trim(strings.ToLower(a.SHA256), "0123456789abcdef") != "" {
		return &Error{Code: CodeBadRequest, Message: "artifact sha256 must be 64 hex digits"}
	}
	if a.Size <= 0 || a.Size > MaxArtifactBytes || len(a.Sig) == 0 || a.KeyID == "" {
		return &Error{Code: CodeBadRequest, Message: "artifact must have a size, a key id and a signature; re-import it"}
	}
	if len(s.Args) > 32 {
		return &Error{Code: CodeBadRequest, Message: "a service takes at most 32 arguments"}
	}
	for _, arg := range append(append([]string{}, s.Args...), s.Description) {
		if strings.ContainsAny(arg, "\n\r\x00") || len(arg) > 1024 {
			return &Error{Code: CodeBadRequest, Message: "service arguments and description must be single lines under 1 KiB"}
		}
	}
	if s.Component == K3sComponent {
		if err := validK3sArgs(s.Args); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, f := range s.Files {
		if err := ValidFileName(f.Name); err != nil {
			return err
		}
		if s.Component == K3sComponent {
			if err := validK3sFile(f.Name); err != nil {
				return err
			}
		}
		if seen[f.Name] {
			return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("config file %q is given twice", f.Name)}
		}
		seen[f.Name] = true
	}
	return s.Health.Validate()
}

// DecodeServiceSpec parses and validates a service_apply or service_plan
// payload.
func DecodeServiceSpec(b []byte) (ServiceSpec, error) {
	s, err := decode[ServiceSpec](b, MaxCommandBytes, "service spec")
	if err != nil {
		return s, err
	}
	return s, s.Validate()
}

// Service step names, in the order an agent runs them.
const (
	StepArtifact = "artifact"
	StepConfig   = "config"
	StepUnit     = "unit"
	StepEnable   = "enable"
	StepStart    = "start"
	StepHealth   = "health"
)

// ServiceStep is one step's outcome: whether it changed (or, in a plan,
// would change) something, and what.
type ServiceStep struct {
	Name    string `json:"name"`
	Changed bool   `json:"changed"`
	Detail  string `json:"detail,omitempty"`
}

// ServiceApplyReply answers service_apply and service_plan.
type ServiceApplyReply struct {
	Component string        `json:"component"`
	Version   string        `json:"version"`
	Steps     []ServiceStep `json:"steps"`
	Changed   bool          `json:"changed"`
	// RolledBack is set when a failed apply restored what was there.
	RolledBack bool `json:"rolled_back,omitempty"`
}

// ServiceQuery names a component for service_status and service_remove.
// Health is optional for status; Purge (remove only) also deletes the
// data directory.
type ServiceQuery struct {
	Component string         `json:"component"`
	Health    *ServiceHealth `json:"health,omitempty"`
	Purge     bool           `json:"purge,omitempty"`
}

// DecodeServiceQuery parses a service_status or service_remove payload.
func DecodeServiceQuery(b []byte) (ServiceQuery, error) {
	q, err := decode[ServiceQuery](b, MaxCommandBytes, "service query")
	if err != nil {
		return q, err
	}
	if err := ValidComponent(q.Component); err != nil {
		return q, err
	}
	if q.Health != nil && (q.Health.URL != "" || q.Health.CAFile != "") {
		return q, q.Health.Validate()
	}
	return q, nil
}

// ServiceStatus is what the host says about a component: what is really
// installed (from the unit on disk, not from any record), systemd's view,
// and the health endpoint's answer.
type ServiceStatus struct {
	Component string `json:"component"`
	Installed bool   `json:"installed"`
	Version   string `json:"version,omitempty"`
	// BinarySHA256 is the digest of the installed executable.
	BinarySHA256 string `json:"binary_sha256,omitempty"`
	Enabled      bool   `json:"enabled"`
	ActiveState  string `json:"active_state,omitempty"`
	SubState     string `json:"sub_state,omitempty"`
	MainPID      uint32 `json:"main_pid,omitempty"`
	ActiveSince  int64  `json:"active_since,omitempty"` // unix ms
	NRestarts    uint32 `json:"n_restarts,omitempty"`
	// HealthStatus is the HTTP status of the health URL (0: no answer);
	// HealthBody its first bytes, so the controller can read e.g.
	// OpenBAO's sealed and initialized fields.
	HealthStatus int    `json:"health_status,omitempty"`
	HealthBody   string `json:"health_body,omitempty"`
	HealthError  string `json:"health_error,omitempty"`
}

// ServiceRemoveReply answers service_remove.
type ServiceRemoveReply struct {
	Component string   `json:"component"`
	Removed   []string `json:"removed"`
	Changed   bool     `json:"changed"`
}
