package access

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceAccountCreate is one `rbac serviceaccount create`.
type ServiceAccountCreate struct {
	Name      string
	Namespace string
	// Role is bound in Namespace (cluster-admin: cluster-wide).
	Role   string
	DryRun bool
}

// ServiceAccountCreated says what exists now. The token itself is never
// returned: it stays in its Secret.
type ServiceAccountCreated struct {
	Name        string   `json:"name"`
	Namespace   string   `json:"namespace"`
	TokenSecret string   `json:"token_secret"`
	Binding     string   `json:"binding"`
	Created     []string `json:"created"`
	Unchanged   bool     `json:"unchanged"`
	TokenReady  bool     `json:"token_ready"`
	// SecretPath is where OpenBAO keeps a copy of the token (under the
	// KV mount), for applications that read it through ${secret:...}.
	SecretPath string `json:"secret_path"`
	Stored     bool   `json:"stored_in_openbao"`
	DryRun     bool   `json:"dry_run,omitempty"`
}

// CreateServiceAccount makes a ServiceAccount, a token Secret bound to it
// (type kubernetes.io/service-account-token, filled by the cluster) and a
// binding of the role. A re-run makes what is missing and reports the
// rest unchanged; a ServiceAccount that is not Foundry's is refused.
func (m *Manager) CreateServiceAccount(ctx context.Context, r ServiceAccountCreate) (res ServiceAccountCreated, err error) {
	res = ServiceAccountCreated{Name: r.Name, Namespace: r.Namespace, TokenSecret: r.Name + "-token", Binding: saBindingName(r.Name, r.Role), DryRun: r.DryRun}
	if err := ValidName("service account", r.Name); err != nil {
		return res, err
	}
	if err := ValidRole(r.Role); err != nil {
		return res, err
	}
	if r.Namespace == "" {
		return res, fmt.Errorf("--namespace is required: a service account lives in one namespace")
	}
	if err := m.namespaceExists(ctx, r.Namespace); err != nil {
		return res, err
	}
	if err := m.clusterRoleExists(ctx, r.Role); err != nil {
		return res, err
	}
	sas := m.Kube.CoreV1().ServiceAccounts(r.Namespace)
	secrets := m.Kube.CoreV1().Secrets(r.Namespace)
	sa, err := sas.Get(ctx, r.Name, metav1.GetOptions{})
	haveSA := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return res, m.apiErr("read service account "+r.Name, err)
	}
	if haveSA && sa.Labels[LabelManagedBy] != managedBy {
		return res, fmt.Errorf("service account %s/%s exists and is not Foundry's; choose another name", r.Namespace, r.Name)
	}
	sec, err := secrets.Get(ctx, res.TokenSecret, metav1.GetOptions{})
	haveSecret := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return res, m.apiErr("read Secret "+res.TokenSecret, err)
	}
	if haveSecret && (sec.Type != corev1.SecretTypeServiceAccountToken || sec.Annotations[corev1.ServiceAccountNameKey] != r.Name) {
		return res, fmt.Errorf("Secret %s/%s exists and is not %s's token; remove it or choose another name", r.Namespace, res.TokenSecret, r.Name)
	}
	haveBinding, err := m.bindingExists(ctx, r)
	if err != nil {
		return res, err
	}
	res.SecretPath = ServiceAccountSecretPath(r.Namespace, r.Name)
	stored, err := m.kvExists(ctx, res.SecretPath)
	if err != nil {
		return res, err
	}
	res.Unchanged = haveSA && haveSecret && haveBinding && stored
	res.Stored = stored
	if !haveSA {
		res.Created = append(res.Created, "ServiceAccount "+r.Namespace+"/"+r.Name)
	}
	if !haveSecret {
		res.Created = append(res.Created, "Secret "+r.Namespace+"/"+res.TokenSecret+" (service-account-token)")
	}
	if !haveBinding {
		res.Created = append(res.Created, "binding "+res.Binding+" of ClusterRole "+r.Role)
	}
	if !stored {
		res.Created = append(res.Created, "a copy of the token in OpenBAO at "+res.SecretPath)
	}
	if r.DryRun {
		return res, nil
	}

	u := &undo{log: m.logger()}
	defer func() {
		if err != nil {
			u.run()
		}
	}()
	if !haveSA {
		if _, err = sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: r.Name, Labels: labels(r.Name)}}, metav1.CreateOptions{}); err != nil {
			return res, m.apiErr("create service account "+r.Name, err)
		}
		u.add(func(ctx context.Context) error { return sas.Delete(ctx, r.Name, metav1.DeleteOptions{}) })
	}
	if !haveSecret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: res.TokenSecret, Labels: labels(r.Name),
			Annotations: map[string]string{corev1.ServiceAccountNameKey: r.Name}}, Type: corev1.SecretTypeServiceAccountToken}
		if _, err = secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return res, m.apiErr("create token Secret "+res.TokenSecret, err)
		}
		u.add(func(ctx context.Context) error { return secrets.Delete(ctx, res.TokenSecret, metav1.DeleteOptions{}) })
	}
	if !haveBinding {
		if err = m.bindServiceAccount(ctx, r, res.Binding); err != nil {
			return res, err
		}
		u.add(func(ctx context.Context) error { return m.unbindServiceAccount(ctx, r) })
	}
	var token []byte
	token, res.TokenReady = m.waitToken(ctx, r.Namespace, res.TokenSecret)
	if !stored && res.TokenReady {
		if _, err = m.Bao.Write(ctx, "store the token of service account "+r.Name, m.kvDataPath(res.SecretPath),
			map[string]any{"data": map[string]any{"token": string(token), "namespace": r.Namespace}}); err != nil {
			return res, err
		}
		res.Stored = true
	}
	return res, nil
}

// ServiceAccountSecretPath is where (under the KV mount) OpenBAO keeps a
// service account's token.
func ServiceAccountSecretPath(ns, name string) string { return "serviceaccounts/" + ns + "/" + name }

func (m *Manager) kvExists(ctx context.Context, path string) (bool, error) {
	_, err := m.Bao.Read(ctx, "read "+path, m.kvMetaPath(path))
	if notFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (m *Manager) unbindServiceAccount(ctx context.Context, r ServiceAccountCreate) error {
	ns := r.Namespace
	if r.Role == RoleClusterAdmin {
		ns = ""
	}
	return m.unbind(ctx, ns, saBindingName(r.Name, r.Role))
}

func (m *Manager) bindingExists(ctx context.Context, r ServiceAccountCreate) (bool, error) {
	name := saBindingName(r.Name, r.Role)
	var err error
	if r.Role == RoleClusterAdmin {
		_, err = m.Kube.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
	} else {
		_, err = m.Kube.RbacV1().RoleBindings(r.Namespace).Get(ctx, name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, m.apiErr("read binding "+name, err)
	}
	return true, nil
}

func (m *Manager) bindServiceAccount(ctx context.Context, r ServiceAccountCreate, name string) error {
	subj := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: r.Name, Namespace: r.Namespace}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.Role}
	var err error
	if r.Role == RoleClusterAdmin {
		_, err = m.Kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels(r.Name)}, Subjects: subj, RoleRef: ref}, metav1.CreateOptions{})
	} else {
		_, err = m.Kube.RbacV1().RoleBindings(r.Namespace).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace, Labels: labels(r.Name)}, Subjects: subj, RoleRef: ref}, metav1.CreateOptions{})
	}
	if err != nil {
		return m.apiErr("bind "+r.Role+" to service account "+r.Name, err)
	}
	return nil
}

// waitToken polls briefly for the cluster's token controller to fill the
// Secret; a slow controller is reported, not an error (the Secret fills
// later on its own, and a re-run stores it in OpenBAO).
func (m *Manager) waitToken(ctx context.Context, ns, name string) ([]byte, bool) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		s, err := m.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && len(s.Data[corev1.ServiceAccountTokenKey]) > 0 {
			return s.Data[corev1.ServiceAccountTokenKey], true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-t.C:
		}
	}
}
