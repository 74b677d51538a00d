package messages

import (
	"fmt"
	"regexp"
	"slices"
)

// Operator roles. An admin may call every API endpoint and have any verb
// signed on its behalf; a read-only operator may only read, and agents
// refuse any verb outside ReadOnlyVerbs that names a read-only operator.
const (
	RoleAdmin    = "admin"
	RoleReadOnly = "read-only"
)

// Roles lists the valid roles, for flag help and validation.
var Roles = []string{RoleAdmin, RoleReadOnly}

// ReadOnlyVerbs are the command verbs that change nothing on a host. Any
// verb not listed here is a write and needs an admin operator; a verb added
// later is therefore a write until someone decides otherwise here.
var ReadOnlyVerbs = []string{VerbStatus, VerbServicePlan, VerbServiceStatus}

// hostLabelRe bounds host roles and labels: they are stored with every
// identity and travel in every heartbeat.
var hostLabelRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// MaxHostLabels bounds a host's labels.
const MaxHostLabels = 64

// ValidHostLabels reports why a host role or label set is not valid.
func ValidHostLabels(role string, labels map[string]string) error {
	if role != "" && !hostLabelRe.MatchString(role) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("role %q must be letters, digits, '-', '_' or '.'", role)}
	}
	if len(labels) > MaxHostLabels {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("labels: at most %d", MaxHostLabels)}
	}
	for k, v := range labels {
		if !hostLabelRe.MatchString(k) || (v != "" && !hostLabelRe.MatchString(v)) {
			return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("label %q=%q: keys and values must be letters, digits, '-', '_' or '.'", k, v)}
		}
	}
	return nil
}

// ValidRole reports why role is not a role, or nil.
func ValidRole(role string) error {
	if !slices.Contains(Roles, role) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("role %q is not a role; use admin or read-only", role)}
	}
	return nil
}

// VerbAllowed reports whether an operator with role may have verb run. It
// fails closed: an empty or unknown role may only run read-only verbs.
func VerbAllowed(verb, role string) bool {
	return role == RoleAdmin || slices.Contains(ReadOnlyVerbs, verb)
}

// SystemOperator is the operator name the controller uses for commands it
// sends on its own (for example bringing a host that missed a key rotation
// up to date). It cannot be created through the API because it is not a
// valid operator name.
const SystemOperator = "_controller"

var operatorNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ValidOperatorName reports why name cannot name an operator, or nil.
// Names are subject tokens in the audit stream, so the rule is the same
// kind as for host ids.
func ValidOperatorName(name string) error {
	if !operatorNameRe.MatchString(name) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(
			"invalid operator name %q: use 1-32 lowercase letters, digits, '-' or '_', starting with a letter", name)}
	}
	return nil
}
