package messages

import (
	"fmt"
	"regexp"
)

// The audit trail. Only the controller publishes here (no operator or agent
// permission allows it), into the stream AuditStream. The subject carries
// the source and the operator so that `foundry audit list --operator` is a
// server-side filter.
const (
	// AuditPrefix is the root of audit subjects:
	// foundry.audit.<source>.<operator>.
	AuditPrefix = Root + ".audit"
	// AuditWildcard matches every audit subject; the audit stream uses it.
	AuditWildcard = AuditPrefix + ".>"
	// AuditStream is the JetStream stream holding the audit trail.
	AuditStream = "FOUNDRY_AUDIT"
	// MaxAuditBytes bounds one record; a fan-out to ten thousand hosts
	// fits with room to spare.
	MaxAuditBytes = 4 << 20
	// UnknownOperator stands for a request whose sender could not be
	// established (unsigned, bad signature, unknown key).
	UnknownOperator = "_unknown"
	// NoOperator marks records that are not about an operator, such as an
	// agent's permission violation.
	NoOperator = "_none"
)

// Audit record sources.
const (
	// AuditSourceAPI is an operator's API call as the controller judged it.
	AuditSourceAPI = "api"
	// AuditSourceCommand is a command the controller signed: one record
	// when it is issued, one with every host's outcome when it completes.
	AuditSourceCommand = "cmd"
	// AuditSourceAgent is an agent's refusal of a command, taken from its
	// cmd_refused event; the host comes from the event's subject.
	AuditSourceAgent = "agent"
	// AuditSourceServer is NATS refusing an identity a publish or a
	// subscription its permissions do not allow.
	AuditSourceServer = "server"
)

// Audit outcomes.
const (
	OutcomeIssued    = "issued"    // signed and being sent; the result follows
	OutcomeSucceeded = "succeeded" // every expected host (or the call) succeeded
	OutcomePartial   = "partial"   // some hosts failed or did not answer
	OutcomeFailed    = "failed"    // the call failed after it was authorized
	OutcomeRefused   = "refused"   // not authenticated, not authorized, or refused by an agent
	OutcomeMissing   = "missing"   // a host that did not answer a command
)

// AuditHost is one host's outcome of a command.
type AuditHost struct {
	Host    string `json:"host"`
	Outcome string `json:"outcome"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// AuditRecord is one entry of the audit trail. It never holds a secret:
// keys appear only as public keys, payloads not at all.
type AuditRecord struct {
	V      int    `json:"v"`
	Time   int64  `json:"time"` // unix ms, controller clock
	Source string `json:"source"`
	// RequestID is the command's envelope id when a command was involved
	// (agents log and report the same id), else the API request id.
	RequestID    string `json:"request_id"`
	APIRequestID string `json:"api_request_id,omitempty"`
	Operator     string `json:"operator"`
	// OperatorClaimed is the operator an agent's refusal named when the
	// controller cannot confirm it (it did not issue the command) or it
	// differs from the one that did: the agent's word, bounded, never
	// put in Operator.
	OperatorClaimed string `json:"operator_claimed,omitempty"`
	OperatorKey     string `json:"operator_key,omitempty"`
	Role            string `json:"role,omitempty"`
	// Action is the API endpoint ("host.remove"), or for server records
	// the refused operation ("publish foundry.api.v1.host.remove").
	Action  string      `json:"action"`
	Verb    string      `json:"verb,omitempty"`
	Targets []string    `json:"targets,omitempty"`
	Outcome string      `json:"outcome"`
	Code    string      `json:"code,omitempty"`
	Message string      `json:"message,omitempty"`
	Host    string      `json:"host,omitempty"` // the agent a record is about
	Hosts   []AuditHost `json:"hosts,omitempty"`
}

var auditSourceRe = regexp.MustCompile(`^[a-z]{1,16}$`)

func validAuditOperator(op string) error {
	if op == SystemOperator || op == UnknownOperator || op == NoOperator {
		return nil
	}
	return ValidOperatorName(op)
}

// AuditSubject is where a record from source about operator is published.
func AuditSubject(source, operator string) (string, error) {
	if !auditSourceRe.MatchString(source) {
		return "", &Error{Code: CodeBadRequest, Message: fmt.Sprintf("invalid audit source %q", source)}
	}
	if err := validAuditOperator(operator); err != nil {
		return "", err
	}
	return AuditPrefix + "." + source + "." + operator, nil
}

// AuditFilter builds a stream filter for audit records; an empty operator
// means any.
func AuditFilter(operator string) (string, error) {
	if operator == "" {
		return AuditPrefix + ".*.*", nil
	}
	if err := validAuditOperator(operator); err != nil {
		return "", err
	}
	return AuditPrefix + ".*." + operator, nil
}

// DecodeAuditRecord parses an audit record.
func DecodeAuditRecord(b []byte) (AuditRecord, error) {
	r, err := decode[AuditRecord](b, MaxAuditBytes, "audit record")
	if err != nil {
		return r, err
	}
	if r.V != Version {
		return r, &Error{Code: CodeUnsupported, Message: fmt.Sprintf("audit record version %d is not supported", r.V)}
	}
	return r, nil
}
