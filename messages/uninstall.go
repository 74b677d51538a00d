package messages

import (
	"fmt"
	"regexp"
	"strings"
)

// UninstallArgs is the optional payload of an uninstall command. When
// set, the agent also takes Foundry's SSH key (the public half of what
// `host add` authorized for SSHUser) out of that user's authorized_keys,
// so a removed host keeps nothing that lets Foundry log in again.
type UninstallArgs struct {
	SSHUser       string `json:"ssh_user,omitempty"`
	AuthorizedKey string `json:"authorized_key,omitempty"`
}

// UninstallReply is what an agent removed before it replied. The agent
// itself is stopped right after the reply, by systemd, so its connection
// closing is the last confirmation the controller waits for.
type UninstallReply struct {
	// Removed lists what was taken off the host, one item per file,
	// directory or key, in the order it happened.
	Removed []string `json:"removed"`
	// KeyRemoved is true when Foundry's SSH key was in authorized_keys
	// and is gone now.
	KeyRemoved bool `json:"key_removed"`
}

var (
	sshUserRe = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	authKeyRe = regexp.MustCompile(`^ssh-ed25519 [A-Za-z0-9+/=]{16,200} foundry$`)
)

// DecodeUninstallArgs parses an uninstall command's payload; an empty
// payload (a controller that sends none) is no key to remove. The user
// name and key line are checked strictly because they end up in a root
// shell script on the host.
func DecodeUninstallArgs(b []byte) (UninstallArgs, error) {
	if len(b) == 0 || string(b) == "null" {
		return UninstallArgs{}, nil
	}
	a, err := decode[UninstallArgs](b, MaxCommandBytes, "uninstall arguments")
	if err != nil {
		return a, err
	}
	if err := a.Validate(); err != nil {
		return UninstallArgs{}, err
	}
	return a, nil
}

// Validate accepts both fields empty, or a POSIX user name with a
// Foundry ed25519 authorized_keys line.
func (a UninstallArgs) Validate() error {
	if a.SSHUser == "" && a.AuthorizedKey == "" {
		return nil
	}
	if !sshUserRe.MatchString(a.SSHUser) {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("uninstall: %q is not a user name", a.SSHUser)}
	}
	if !authKeyRe.MatchString(strings.TrimSpace(a.AuthorizedKey)) || strings.ContainsAny(a.AuthorizedKey, "\n\r") {
		return &Error{Code: CodeBadRequest, Message: "uninstall: the key is not a Foundry ed25519 authorized_keys line"}
	}
	return nil
}
