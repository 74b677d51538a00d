package access

import (
	"context"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Subject is one user or service account as both sides know it.
type Subject struct {
	Kind      string `json:"kind"` // "user" or "serviceaccount"
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"` // service accounts only
	// OpenBAO's side: the entity of a user, the stored token of a
	// service account.
	InOpenBAO bool     `json:"in_openbao"`
	Foundry   bool     `json:"foundry"` // made by Foundry
	Userpass  bool     `json:"userpass"`
	Policies  []string `json:"policies,omitempty"`
	// Kubernetes' side: every binding naming the subject.
	Grants []Grant `json:"grants"`
	// Problem names what is missing on one side ("" when both agree).
	Problem string `json:"problem,omitempty"`
}

// Grant is one binding: what role, where ("" namespace: cluster-wide).
type Grant struct {
	Namespace string `json:"namespace,omitempty"`
	Binding   string `json:"binding"`
	RoleKind  string `json:"role_kind"`
	Role      string `json:"role"`
	Foundry   bool   `json:"foundry"`
}

// String is "team-a:edit", "*:cluster-admin" or "team-a:Role/foundry-user-alice".
func (g Grant) String() string {
	ns := g.Namespace
	if ns == "" {
		ns = "*"
	}
	if g.RoleKind == "Role" {
		return ns + ":Role/" + g.Role
	}
	return ns + ":" + g.Role
}

// List joins OpenBAO's users (entities, userpass) with Kubernetes'
// bindings of users and of Foundry's service accounts. namespace limits
// the Kubernetes side to that namespace (cluster-wide bindings are still
// shown: they apply there too) and service accounts to it.
func (m *Manager) List(ctx context.Context, namespace string) ([]Subject, error) {
	users := map[string]*Subject{}
	user := func(name string) *Subject {
		if users[name] == nil {
			users[name] = &Subject{Kind: "user", Name: name, Grants: []Grant{}}
		}
		return users[name]
	}
	names, err := m.Bao.List(ctx, "list entities", "identity/entity/name")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		e, err := m.lookupEntity(ctx, n)
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue
		}
		s := user(n)
		s.InOpenBAO, s.Policies, s.Foundry = true, e.Policies, e.Foundry
		for _, a := range e.Aliases {
			s.Userpass = s.Userpass || a == "auth/"+UserpassPath+"/"
		}
	}

	sas := map[string]*Subject{}
	saList, err := m.Kube.CoreV1().ServiceAccounts(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + managedBy})
	if err != nil {
		return nil, m.apiErr("list service accounts", err)
	}
	for _, sa := range saList.Items {
		stored, err := m.kvExists(ctx, ServiceAccountSecretPath(sa.Namespace, sa.Name))
		if err != nil {
			return nil, err
		}
		sas[sa.Namespace+"/"+sa.Name] = &Subject{Kind: "serviceaccount", Name: sa.Name, Namespace: sa.Namespace, Grants: []Grant{}, InOpenBAO: stored, Foundry: true}
	}

	add := func(ns, binding string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, lbl map[string]string) {
		g := Grant{Namespace: ns, Binding: binding, RoleKind: ref.Kind, Role: ref.Name, Foundry: lbl[LabelManagedBy] == managedBy}
		for _, s := range subjects {
			switch s.Kind {
			case rbacv1.UserKind:
				// Every user OpenBAO knows, and any user Foundry bound.
				if users[s.Name] != nil || g.Foundry {
					u := user(s.Name)
					u.Grants = append(u.Grants, g)
				}
			case rbacv1.ServiceAccountKind:
				if sa := sas[s.Namespace+"/"+s.Name]; sa != nil {
					sa.Grants = append(sa.Grants, g)
				}
			}
		}
	}
	crbs, err := m.Kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, m.apiErr("list cluster role bindings", err)
	}
	for _, b := range crbs.Items {
		add("", b.Name, b.RoleRef, b.Subjects, b.Labels)
	}
	rbs, err := m.Kube.RbacV1().RoleBindings(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, m.apiErr("list role bindings", err)
	}
	for _, b := range rbs.Items {
		add(b.Namespace, b.Name, b.RoleRef, b.Subjects, b.Labels)
	}

	var out []Subject
	for _, s := range users {
		switch {
		case !s.InOpenBAO:
			s.Problem = "bound in Kubernetes but unknown to OpenBAO"
		case s.Foundry && !s.Userpass:
			s.Problem = "no userpass alias in OpenBAO"
		}
		out = append(out, *s)
	}
	for _, s := range sas {
		if !s.InOpenBAO {
			s.Problem = "token not stored in OpenBAO; re-run foundry rbac serviceaccount create"
		}
		out = append(out, *s)
	}
	for i := range out {
		sort.Slice(out[i].Grants, func(a, b int) bool { return out[i].Grants[a].String() < out[i].Grants[b].String() })
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind > b.Kind // users first
		}
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) < 0
	})
	return out, nil
}
