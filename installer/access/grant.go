package access

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// UserGrant is one `rbac user grant`.
type UserGrant struct {
	Name        string
	Namespace   string
	Permissions []Permission
	DryRun      bool
}

// Granted says what the user's Role in the namespace now holds.
type Granted struct {
	Name      string              `json:"name"`
	Namespace string              `json:"namespace"`
	Role      string              `json:"role"`
	Binding   string              `json:"binding"`
	Rules     []rbacv1.PolicyRule `json:"rules"`
	Added     int                 `json:"added"`
	Unchanged bool                `json:"unchanged"`
	DryRun    bool                `json:"dry_run,omitempty"`
}

// Grant widens a user's permissions in a namespace: the rules are added
// to the user's Role there (made on first grant), bound to the user. It
// never narrows; a grant already held changes nothing.
func (m *Manager) Grant(ctx context.Context, g UserGrant) (res Granted, err error) {
	res = Granted{Name: g.Name, Namespace: g.Namespace, Role: userRoleName(g.Name), Binding: userRoleName(g.Name), DryRun: g.DryRun}
	if err := ValidName("user", g.Name); err != nil {
		return res, err
	}
	if g.Namespace == "" {
		return res, fmt.Errorf("--namespace is required: a grant is a Role in one namespace")
	}
	if len(g.Permissions) == 0 {
		return res, fmt.Errorf("no permissions given: write them as verbs:resources, e.g. get,list:pods,deployments")
	}
	if err := m.namespaceExists(ctx, g.Namespace); err != nil {
		return res, err
	}
	u, err := m.lookupEntity(ctx, g.Name)
	if err != nil {
		return res, err
	}
	if u == nil {
		return res, fmt.Errorf("OpenBAO has no user %s; create it first with foundry rbac user create %s", g.Name, g.Name)
	}
	rules, err := m.resolve(g.Permissions)
	if err != nil {
		return res, err
	}

	roles := m.Kube.RbacV1().Roles(g.Namespace)
	cur, err := roles.Get(ctx, res.Role, metav1.GetOptions{})
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return res, m.apiErr("read Role "+res.Role, err)
	}
	if !exists {
		cur = &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: res.Role, Namespace: g.Namespace, Labels: labels(g.Name)}}
	} else if cur.Labels[LabelManagedBy] != managedBy {
		return res, fmt.Errorf("Role %s/%s exists and is not Foundry's; rename or remove it", g.Namespace, res.Role)
	}
	for _, r := range rules {
		if !slices.ContainsFunc(cur.Rules, func(x rbacv1.PolicyRule) bool { return ruleEqual(x, r) }) {
			cur.Rules = append(cur.Rules, r)
			res.Added++
		}
	}
	res.Rules = cur.Rules
	bindings := m.Kube.RbacV1().RoleBindings(g.Namespace)
	_, berr := bindings.Get(ctx, res.Binding, metav1.GetOptions{})
	if berr != nil && !apierrors.IsNotFound(berr) {
		return res, m.apiErr("read RoleBinding "+res.Binding, berr)
	}
	needBinding := apierrors.IsNotFound(berr)
	res.Unchanged = res.Added == 0 && !needBinding
	if g.DryRun || res.Unchanged {
		return res, nil
	}

	u2 := &undo{log: m.logger()}
	defer func() {
		if err != nil {
			u2.run()
		}
	}()
	if exists {
		if _, err = roles.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return res, m.apiErr("update Role "+res.Role, err)
		}
	} else {
		if _, err = roles.Create(ctx, cur, metav1.CreateOptions{}); err != nil {
			return res, m.apiErr("create Role "+res.Role, err)
		}
		u2.add(func(ctx context.Context) error { return roles.Delete(ctx, res.Role, metav1.DeleteOptions{}) })
	}
	if needBinding {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: res.Binding, Namespace: g.Namespace, Labels: labels(g.Name)},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: g.Name}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: res.Role},
		}
		if _, err = bindings.Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			return res, m.apiErr("create RoleBinding "+res.Binding, err)
		}
	}
	m.logger().Info("user granted", "user", g.Name, "namespace", g.Namespace, "rules_added", res.Added)
	return res, nil
}

// resolve turns permissions into policy rules, finding each resource's
// API group through discovery, as kubectl create role does: an unknown
// resource is an error, not a rule that silently matches nothing.
func (m *Manager) resolve(perms []Permission) ([]rbacv1.PolicyRule, error) {
	lists, err := m.Kube.Discovery().ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return nil, m.apiErr("discover the API's resources", err)
	}
	groups := map[string][]string{} // resource -> groups that serve it
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			groups[r.Name] = append(groups[r.Name], gv.Group)
		}
	}
	var out []rbacv1.PolicyRule
	for _, p := range perms {
		byGroup := map[string][]string{}
		var order []string
		for _, res := range p.Resources {
			name, group, err := resourceGroup(res, groups)
			if err != nil {
				return nil, err
			}
			if _, ok := byGroup[group]; !ok {
				order = append(order, group)
			}
			byGroup[group] = append(byGroup[group], name)
		}
		for _, g := range order {
			out = append(out, rbacv1.PolicyRule{Verbs: p.Verbs, APIGroups: []string{g}, Resources: byGroup[g]})
		}
	}
	return out, nil
}

func resourceGroup(res string, groups map[string][]string) (string, string, error) {
	if res == "*" {
		return "*", "*", nil
	}
	name, group, dotted := strings.Cut(res, ".")
	base, _, _ := strings.Cut(name, "/") // subresources: pods/log is served by pods
	served := groups[base]
	if dotted {
		if !slices.Contains(served, group) {
			return "", "", fmt.Errorf("the cluster serves no resource %s in API group %s; check the name with kubectl api-resources", base, group)
		}
		return name, group, nil
	}
	switch len(served) {
	case 0:
		return "", "", fmt.Errorf("the cluster serves no resource %q; use a plural name from kubectl api-resources (pods, deployments, ...)", base)
	case 1:
		return name, served[0], nil
	}
	if slices.Contains(served, "") {
		return name, "", nil
	}
	return "", "", fmt.Errorf("resource %q is served by several API groups (%s); name one, e.g. %s.%s", base, strings.Join(served, ", "), base, served[0])
}

func ruleEqual(a, b rbacv1.PolicyRule) bool {
	return slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.APIGroups, b.APIGroups) &&
		slices.Equal(a.Resources, b.Resources) && slices.Equal(a.ResourceNames, b.ResourceNames)
}
