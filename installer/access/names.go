package access

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Roles are the Kubernetes ClusterRoles --role may name: the user-facing
// defaults every cluster ships (kubectl's documentation calls them the
// user-facing roles).
var Roles = []string{"cluster-admin", "admin", "edit", "view"}

// RoleClusterAdmin is cluster-wide by nature and is refused with a
// namespace.
const RoleClusterAdmin = "cluster-admin"

// ValidRole reports why role cannot be used.
func ValidRole(role string) error {
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("unknown role %q: use one of %s", role, strings.Join(Roles, ", "))
	}
	return nil
}

// nameRe is a DNS label: the name becomes part of Kubernetes object
// names, an OpenBAO policy name and a secret path.
var nameRe = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidName reports why name cannot name a user or a service account.
func ValidName(kind, name string) error {
	if !nameRe.MatchString(name) || len(name) > 40 {
		return fmt.Errorf("invalid %s name %q: use 1-40 lowercase letters, digits and '-', starting with a letter", kind, name)
	}
	return nil
}

// ValidNamespace reports why ns cannot be a namespace name.
func ValidNamespace(ns string) error {
	if !nameRe.MatchString(ns) {
		return fmt.Errorf("invalid namespace %q: a namespace is a DNS label (lowercase letters, digits, '-')", ns)
	}
	return nil
}

// Verbs are the verbs --permissions accepts: Kubernetes' API verbs, and
// "*" for all of them.
var Verbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"}

// Permission is one "verbs:resources" term: the verbs apply to every
// resource. A resource may carry its API group after a dot
// ("deployments.apps"), as with kubectl create role --resource.
type Permission struct {
	Verbs     []string
	Resources []string
}

var resourceRe = regexp.MustCompile(`^([a-z][a-z0-9-]*)(/[a-z]+)?(\.[a-z0-9][a-z0-9.-]*)?$`)

// ParsePermissions reads --permissions values such as
// "get,list:pods,deployments". Each value is one term; several terms may
// also be joined with ';'. It refuses anything it does not understand
// rather than guess: an unknown verb, an empty list, a resource that is
// not a lowercase plural name, a repeated entry.
func ParsePermissions(values []string) ([]Permission, error) {
	var out []Permission
	for _, v := range values {
		for _, term := range strings.Split(v, ";") {
			p, err := parseTerm(strings.TrimSpace(term))
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no permissions given: write them as verbs:resources, e.g. get,list:pods,deployments")
	}
	return out, nil
}

func parseTerm(term string) (Permission, error) {
	bad := func(why string) error {
		return fmt.Errorf("malformed permission %q: %s; write verbs:resources, e.g. get,list:pods,deployments", term, why)
	}
	verbs, resources, ok := strings.Cut(term, ":")
	if !ok {
		return Permission{}, bad("no ':' between verbs and resources")
	}
	var p Permission
	for _, v := range strings.Split(verbs, ",") {
		switch {
		case v == "":
			return p, bad("an empty verb")
		case !slices.Contains(Verbs, v):
			return p, bad(fmt.Sprintf("unknown verb %q (use %s)", v, strings.Join(Verbs, ", ")))
		case slices.Contains(p.Verbs, v):
			return p, bad(fmt.Sprintf("verb %q twice", v))
		}
		p.Verbs = append(p.Verbs, v)
	}
	for _, r := range strings.Split(resources, ",") {
		switch {
		case r == "":
			return p, bad("an empty resource")
		case r != "*" && !resourceRe.MatchString(r):
			return p, bad(fmt.Sprintf("resource %q is not a lowercase resource name such as pods or deployments.apps", r))
		case slices.Contains(p.Resources, r):
			return p, bad(fmt.Sprintf("resource %q twice", r))
		}
		p.Resources = append(p.Resources, r)
	}
	return p, nil
}

// Object names Foundry gives what it creates for a subject, so re-runs
// find them and `rbac list` can tell them apart from others' objects.
func userBindingName(user, role string) string { return "foundry-user-" + user + "-" + role }
func userRoleName(user string) string          { return "foundry-user-" + user }
func saBindingName(sa, role string) string     { return "foundry-sa-" + sa + "-" + role }

// UserPolicyName is the OpenBAO ACL policy of a user's secret paths.
func UserPolicyName(user string) string { return "foundry-user-" + user }

// UserSecretPath is where a user's secrets live in the KV mount; the
// user's policy covers it and nothing else.
func UserSecretPath(user string) string { return "users/" + user }

// UserPolicy is the HCL of a user's policy: full use of its own KV paths
// (data and metadata) on mount, nothing more.
func UserPolicy(mount, user string) string {
	p := UserSecretPath(user)
	return fmt.Sprintf(`# Managed by Foundry (rbac user create): %[2]s's own secrets.
path "%[1]s/data/%[3]s/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "%[1]s/metadata/%[3]s/*" {
  capabilities = ["read", "list", "delete"]
}
`, mount, user, p)
}
