package access

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrUserExists means the name is taken in OpenBAO (entity or userpass
// user) or has Foundry's bindings in Kubernetes.
var ErrUserExists = errors.New("user exists")

// UserCreate is one `rbac user create`.
type UserCreate struct {
	Name string
	// Namespace scopes Role to it (a RoleBinding); empty binds the role
	// cluster-wide (a ClusterRoleBinding).
	Namespace string
	// Role is a ClusterRole from Roles; empty makes a user with no
	// Kubernetes permissions yet (rbac user grant adds them).
	Role string
	// Password for userpass; nil generates one, stored with the user's
	// secrets so an admin can hand it over (foundry secret get).
	Password []byte
	DryRun   bool
}

// UserCreated says what was (or, on a dry run, would be) made. It holds
// no secret except Kubeconfig, which the caller prints only when asked.
type UserCreated struct {
	Name              string   `json:"name"`
	EntityID          string   `json:"entity_id,omitempty"`
	Policy            string   `json:"policy"`
	SecretPath        string   `json:"secret_path"`
	Bindings          []string `json:"bindings"`
	PasswordGenerated bool     `json:"password_generated"`
	UserpassEnabled   bool     `json:"userpass_enabled,omitempty"`
	DryRun            bool     `json:"dry_run,omitempty"`
	Steps             []string `json:"steps"`
	Kubeconfig        []byte   `json:"-"`
}

// validateUser checks everything create needs before anything is
// written: input, namespace, and that the name is free on both sides.
func (m *Manager) validateUser(ctx context.Context, r UserCreate) error {
	if err := ValidName("user", r.Name); err != nil {
		return err
	}
	if r.Role != "" {
		if err := ValidRole(r.Role); err != nil {
			return err
		}
	}
	if r.Role != "" {
		if err := m.clusterRoleExists(ctx, r.Role); err != nil {
			return err
		}
	}
	if r.Namespace != "" {
		if r.Role == RoleClusterAdmin {
			return fmt.Errorf("cluster-admin is cluster-wide: leave out --namespace, or use --role admin for full control of %s", r.Namespace)
		}
		if err := m.namespaceExists(ctx, r.Namespace); err != nil {
			return err
		}
	}
	u, err := m.lookupEntity(ctx, r.Name)
	if err != nil {
		return err
	}
	if u != nil {
		return fmt.Errorf("%w: OpenBAO already has an entity named %s; widen it with foundry rbac user grant, or choose another name", ErrUserExists, r.Name)
	}
	acc, err := m.userpassAccessor(ctx)
	if err != nil {
		return err
	}
	if acc != "" {
		if ok, err := m.userpassUserExists(ctx, r.Name); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: OpenBAO's userpass already has a user %s; choose another name or remove it (bao delete auth/userpass/users/%s)", ErrUserExists, r.Name, r.Name)
		}
	}
	return nil
}

func (m *Manager) clusterRoleExists(ctx context.Context, role string) error {
	_, err := m.Kube.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the cluster has no ClusterRole %s (Kubernetes ships it; was it deleted?)", role)
	}
	if err != nil {
		return m.apiErr("read ClusterRole "+role, err)
	}
	return nil
}

func (m *Manager) namespaceExists(ctx context.Context, ns string) error {
	if err := ValidNamespace(ns); err != nil {
		return err
	}
	_, err := m.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("namespace %s does not exist; create it first (kubectl create namespace %s)", ns, ns)
	}
	if err != nil {
		return m.apiErr("read namespace "+ns, err)
	}
	return nil
}

// CreateUser makes the user on both sides, or nothing: a failure undoes
// what this call made.
func (m *Manager) CreateUser(ctx context.Context, r UserCreate) (res UserCreated, err error) {
	res = UserCreated{Name: r.Name, Policy: UserPolicyName(r.Name), SecretPath: UserSecretPath(r.Name), PasswordGenerated: r.Password == nil, DryRun: r.DryRun}
	if err := m.validateUser(ctx, r); err != nil {
		return res, err
	}
	acc, err := m.userpassAccessor(ctx)
	if err != nil {
		return res, err
	}
	binding := m.userBinding(r)
	if binding != "" {
		res.Bindings = []string{binding}
	}
	res.UserpassEnabled = acc == ""
	res.Steps = userSteps(r, acc == "", binding)
	if r.DryRun {
		return res, nil
	}

	u := &undo{log: m.logger()}
	defer func() {
		if err != nil {
			u.run()
		}
	}()
	// The certificate first: the step most likely to fail, and the only
	// one that cannot be undone on the cluster's side (a certificate
	// cannot be revoked), so its key stays in this process until every
	// other step has worked.
	keyPEM, certPEM, err := m.issueClientCert(ctx, r.Name)
	if err != nil {
		return res, err
	}
	kc, err := BuildKubeconfig(m.REST, m.clusterName(), r.Name, r.Namespace, keyPEM, certPEM)
	if err != nil {
		return res, err
	}
	if acc == "" {
		if acc, err = m.enableUserpass(ctx); err != nil {
			return res, err
		}
	}
	pol := UserPolicyName(r.Name)
	if _, err = m.Bao.Write(ctx, "write policy "+pol, "sys/policies/acl/"+pol, map[string]any{"policy": UserPolicy(m.Bao.Mount(), r.Name)}); err != nil {
		return res, err
	}
	u.add(func(ctx context.Context) error {
		return m.Bao.Delete(ctx, "delete policy "+pol, "sys/policies/acl/"+pol)
	})

	password := r.Password
	if password == nil {
		if password, err = newPassword(); err != nil {
			return res, err
		}
	}
	upPath := "auth/" + UserpassPath + "/users/" + r.Name
	if _, err = m.Bao.Write(ctx, "create userpass user "+r.Name, upPath, map[string]any{"password": string(password), "token_policies": []string{pol}}); err != nil {
		return res, err
	}
	u.add(func(ctx context.Context) error { return m.Bao.Delete(ctx, "delete userpass user "+r.Name, upPath) })

	ent, err := m.Bao.Write(ctx, "create entity "+r.Name, "identity/entity", map[string]any{"name": r.Name, "policies": []string{pol}, "metadata": entityMetadata})
	if err != nil {
		return res, err
	}
	res.EntityID, _ = ent["id"].(string)
	if res.EntityID == "" {
		return res, fmt.Errorf("OpenBAO created entity %s without returning its id (did it exist already?); inspect identity/entity/name/%s", r.Name, r.Name)
	}
	u.add(func(ctx context.Context) error {
		return m.Bao.Delete(ctx, "delete entity "+r.Name, "identity/entity/id/"+res.EntityID)
	})
	if _, err = m.Bao.Write(ctx, "create the userpass alias of "+r.Name, "identity/entity-alias",
		map[string]any{"name": r.Name, "canonical_id": res.EntityID, "mount_accessor": acc}); err != nil {
		return res, err
	}

	if binding != "" {
		if err = m.bindUser(ctx, r, binding); err != nil {
			return res, err
		}
		u.add(func(ctx context.Context) error { return m.unbind(ctx, r.Namespace, binding) })
	}

	data := map[string]any{"kubeconfig": string(kc)}
	if r.Password == nil {
		data["password"] = string(password)
	}
	sp := UserSecretPath(r.Name) + "/credentials"
	if _, err = m.Bao.Write(ctx, "store the credentials of "+r.Name, m.kvDataPath(sp), map[string]any{"data": data}); err != nil {
		return res, err
	}
	res.Kubeconfig = kc
	m.logger().Info("user created", "user", r.Name, "namespace", r.Namespace, "role", r.Role, "entity", res.EntityID)
	return res, nil
}

// UserCredentialsPath is the KV path (under the mount) of a user's
// kubeconfig and generated password.
func UserCredentialsPath(user string) string { return UserSecretPath(user) + "/credentials" }

func (m *Manager) clusterName() string {
	if m.Cluster == "" {
		return "default"
	}
	return m.Cluster
}

func userSteps(r UserCreate, enable bool, binding string) []string {
	var s []string
	s = append(s, "issue a client certificate for "+r.Name+" through the cluster's CSR API (signer kubernetes.io/kube-apiserver-client)")
	if enable {
		s = append(s, "enable OpenBAO's userpass auth method at "+UserpassPath+"/")
	}
	s = append(s, "write OpenBAO policy "+UserPolicyName(r.Name)+" for "+UserSecretPath(r.Name)+"/*",
		"create userpass user "+r.Name+" and entity "+r.Name+" with its alias")
	switch {
	case binding != "" && r.Namespace != "":
		s = append(s, fmt.Sprintf("bind ClusterRole %s to user %s in namespace %s (RoleBinding %s)", r.Role, r.Name, r.Namespace, binding))
	case binding != "":
		s = append(s, fmt.Sprintf("bind ClusterRole %s to user %s cluster-wide (ClusterRoleBinding %s)", r.Role, r.Name, binding))
	default:
		s = append(s, "no Kubernetes permissions (no --role); add them with foundry rbac user grant")
	}
	return append(s, "store "+r.Name+"'s kubeconfig in OpenBAO at "+UserCredentialsPath(r.Name))
}

func (m *Manager) userBinding(r UserCreate) string {
	if r.Role == "" {
		return ""
	}
	return userBindingName(r.Name, r.Role)
}

func (m *Manager) bindUser(ctx context.Context, r UserCreate, name string) error {
	subj := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: r.Name}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.Role}
	meta := metav1.ObjectMeta{Name: name, Namespace: r.Namespace, Labels: labels(r.Name)}
	var err error
	if r.Namespace == "" {
		_, err = m.Kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta, Subjects: subj, RoleRef: ref}, metav1.CreateOptions{})
	} else {
		_, err = m.Kube.RbacV1().RoleBindings(r.Namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta, Subjects: subj, RoleRef: ref}, metav1.CreateOptions{})
	}
	if err != nil {
		return m.apiErr("bind "+r.Role+" to "+r.Name, err)
	}
	return nil
}

func (m *Manager) unbind(ctx context.Context, ns, name string) error {
	var err error
	if ns == "" {
		err = m.Kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	} else {
		err = m.Kube.RbacV1().RoleBindings(ns).Delete(ctx, name, metav1.DeleteOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func newPassword() ([]byte, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
}
