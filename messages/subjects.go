package messages

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Subject roots. They are constants in one place so that permissions,
// stream definitions and builders cannot drift apart.
const (
	// Root is the first token of every Foundry subject.
	Root = "foundry"
	// CommandPrefix is where agents listen for signed commands.
	CommandPrefix = Root + ".cmd"
	// HeartbeatPrefix is where agents publish registration and liveness.
	HeartbeatPrefix = Root + ".hb"
	// EventPrefix is where agents and the controller publish events.
	EventPrefix = Root + ".evt"
	// APIPrefix is the controller's request/reply API for operators.
	APIPrefix = Root + ".api.v1"
	// ReplyPrefix is where agents answer a command sent on the broadcast
	// subject: the command's reply subject is ReplyPrefix.<nonce> and each
	// agent answers on that plus "." and its own id. An agent may publish
	// only on reply subjects that end in its own id, so the subject proves
	// who answered, as the per-host reply subject of a command sent to one
	// host does.
	ReplyPrefix = Root + ".reply"

	// HeartbeatWildcard matches every host's heartbeat subject.
	HeartbeatWildcard = HeartbeatPrefix + ".*"
	// EventWildcard matches every event subject; the events stream uses it.
	EventWildcard = EventPrefix + ".>"
	// BroadcastHost is the reserved command token every agent also hears.
	// It cannot collide with a host id because ids must start with a letter
	// or digit.
	BroadcastHost = "_all"
)

var (
	eventTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	apiTokenRe  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// ValidHostID reports why id cannot be used as a host id, or nil. Host ids
// are subject tokens, so dots, wildcards and spaces are refused here rather
// than turning into a subject that matches other hosts.
func ValidHostID(id string) error {
	if !hostIDOK(id) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(
			"invalid host id %q: use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit", id)}
	}
	return nil
}

// hostIDOK is ^[a-z0-9][a-z0-9_-]{0,62}$ without a regular expression: a
// fleet-wide command checks every host's id, twice, before it is sent,
// and the regexp took 3 ms of that at 1,000 hosts.
func hostIDOK(id string) bool {
	if len(id) == 0 || len(id) > 63 || id[0] == '-' || id[0] == '_' {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// HostIDFromName derives a host id from a hostname or address that a user
// typed, so "Node1.Example.com" and "10.77.0.11" become valid tokens.
func HostIDFromName(name string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(name))
	id = strings.NewReplacer(".", "-", ":", "-").Replace(id)
	if err := ValidHostID(id); err != nil {
		return "", err
	}
	return id, nil
}

// ValidEventType reports why t cannot be used as an event type token.
func ValidEventType(t string) error {
	if !eventTypeRe.MatchString(t) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(
			"invalid event type %q: use lowercase letters, digits and '_', starting with a letter", t)}
	}
	return nil
}

// CommandSubject is the subject a single host receives commands on.
func CommandSubject(host string) (string, error) {
	if err := ValidHostID(host); err != nil {
		return "", err
	}
	return CommandPrefix + "." + host, nil
}

// BroadcastSubject is the subject every agent receives commands on.
func BroadcastSubject() string { return CommandPrefix + "." + BroadcastHost }

// BroadcastReplySubject is where host answers a broadcast command whose
// reply subject is reply. Anything but ReplyPrefix.<nonce> is refused, so
// a forged reply subject cannot make an agent publish elsewhere.
func BroadcastReplySubject(reply, host string) (string, error) {
	nonce, ok := strings.CutPrefix(reply, ReplyPrefix+".")
	if !ok || nonce == "" || strings.ContainsAny(nonce, ".*> \t") {
		return "", fmt.Errorf("broadcast reply subject %q is not %s.<nonce>", reply, ReplyPrefix)
	}
	if err := ValidHostID(host); err != nil {
		return "", err
	}
	return reply + "." + host, nil
}

// AgentReplyPermission is the reply subject pattern host may publish on.
func AgentReplyPermission(host string) string { return ReplyPrefix + ".*." + host }

// HeartbeatSubject is the only subject a host may publish liveness on.
func HeartbeatSubject(host string) (string, error) {
	if err := ValidHostID(host); err != nil {
		return "", err
	}
	return HeartbeatPrefix + "." + host, nil
}

// EventSubject is where an event of type typ about host is published. The
// host is part of the subject so that server-side filters and permissions
// can select by host without reading payloads.
func EventSubject(host, typ string) (string, error) {
	if err := ValidHostID(host); err != nil {
		return "", err
	}
	if err := ValidEventType(typ); err != nil {
		return "", err
	}
	return EventPrefix + "." + host + "." + typ, nil
}

// AgentEventTypes are the only event types an agent may publish (its NATS
// permissions list them one by one); every other type is the
// controller's. So the subject alone says both who an event is about and
// who said it, and a stolen agent credential can neither speak for
// another host nor pass its words off as the controller's.
//
// The self-update events are the agent's too: only the host knows that
// its new agent confirmed, or that it went back by itself. Left out, the
// server refused them, the agent's outbox kept them unacknowledged, and
// every stop of that agent waited for their acknowledgement first (which
// delayed the restart onto a new build past a short upgrade deadline).
var AgentEventTypes = []string{EventAgentStarted, EventAgentStopping, EventCmdRefused, EventTrustUpdated,
	EventAgentUpgraded, EventAgentRolledBack}

// Event sources, as EventOrigin derives them.
const (
	EventSourceAgent      = "agent"
	EventSourceController = "controller"
)

// EventOrigin reads the host, type and source of an event from the
// subject it was stored under, the only part of it NATS permissions vouch
// for.
func EventOrigin(subject string) (host, typ, source string, err error) {
	rest, ok := strings.CutPrefix(subject, EventPrefix+".")
	if !ok {
		return "", "", "", &Error{Code: CodeBadRequest, Message: fmt.Sprintf("subject %q is not under %q", subject, EventPrefix)}
	}
	host, typ, _ = strings.Cut(rest, ".")
	if err := ValidHostID(host); err != nil {
		return "", "", "", err
	}
	if err := ValidEventType(typ); err != nil {
		return "", "", "", err
	}
	if slices.Contains(AgentEventTypes, typ) {
		return host, typ, EventSourceAgent, nil
	}
	return host, typ, EventSourceController, nil
}

// EventFilter builds a stream filter subject for events; empty arguments
// mean "any".
func EventFilter(host, typ string) (string, error) {
	h, t := "*", "*"
	if host != "" {
		if err := ValidHostID(host); err != nil {
			return "", err
		}
		h = host
	}
	if typ != "" {
		if err := ValidEventType(typ); err != nil {
			return "", err
		}
		t = typ
	}
	return EventPrefix + "." + h + "." + t, nil
}

// APISubject is a controller API endpoint, e.g. APISubject("host", "list").
// Read verbs and write verbs are separate subjects so that NATS permissions
// alone can keep a read-only operator away from write endpoints.
func APISubject(noun, verb string) (string, error) {
	if !apiTokenRe.MatchString(noun) || !apiTokenRe.MatchString(verb) {
		return "", &Error{Code: CodeBadRequest, Message: fmt.Sprintf("invalid API subject tokens %q %q", noun, verb)}
	}
	return APIPrefix + "." + noun + "." + verb, nil
}

// MustAPISubject is APISubject for compile-time constant tokens.
func MustAPISubject(noun, verb string) string {
	s, err := APISubject(noun, verb)
	if err != nil {
		panic(err)
	}
	return s
}

// HostFromSubject returns the host token that follows prefix in subject, so
// the controller trusts the subject (enforced by NATS permissions) and never
// a host name claimed inside a payload.
func HostFromSubject(prefix, subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return "", &Error{Code: CodeBadRequest, Message: fmt.Sprintf("subject %q is not under %q", subject, prefix)}
	}
	host, _, _ := strings.Cut(rest, ".")
	if err := ValidHostID(host); err != nil {
		return "", err
	}
	return host, nil
}

// AgentInbox is the only inbox prefix an agent may subscribe to (for its
// own JetStream reads, e.g. fetching artifacts).
func AgentInbox(host string) string { return "_INBOX_AGENT_" + host }

// AgentAckSubject is where the stream's acknowledgements of an agent's
// events come back, one token per publish after it: the agent's
// long-lived connection may subscribe to AgentAckSubject(host)+".*" and
// to no other inbox. A literal prefix rather than an inbox per request,
// because the server keeps every connection's permissions, and the agent
// holds the subscription only while it has events to deliver.
func AgentAckSubject(host string) string { return AgentInbox(host) + ".ack" }

// AgentFetchConnName names an agent's short-lived connection for artifact
// reads. The controller gives a connection with this name the artifact
// store's read permissions and nothing else, and the agent's long-lived
// connection no longer carries them: the server keeps every connection's
// permissions in its own subject tree, and the store's ten JetStream
// subjects were two thirds of that, for every connected host, all the
// time.
func AgentFetchConnName(host string) string { return "foundry-agent-fetch:" + host }
