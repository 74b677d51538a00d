package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The join design: the token's secret is a static bearer token (kube-apiserver
// --token-auth-file) for user joinUser in group joinGroup, whose only RBAC
// right is to read the bootstrap Secret. That Secret holds the CAs and keys
// a second server needs; agents use the client CA from it to sign their own
// node certificate. As with k3s's server token, holding the token is
// holding the cluster.
const (
	joinUser        = "k3s-standin:join"
	joinGroup       = "k3s-standin:joiners"
	bootstrapSecret = "k3s-standin-bootstrap"
	bootstrapRBAC   = "k3s-standin:bootstrap-reader"
	kwokRBAC        = "k3s-standin:kwok-node"
)

// tokenAuthLine is the --token-auth-file CSV line for the join token.
func tokenAuthLine(secret string) string {
	return fmt.Sprintf("%s,%s,%s,%q\n", secret, joinUser, joinUser, joinGroup)
}

// publishBootstrap creates or updates the bootstrap Secret and the RBAC that
// lets the join group read it, and that lets nodes run kwok.
func publishBootstrap(ctx context.Context, cs kubernetes.Interface, l layout) error {
	data := map[string][]byte{}
	for _, f := range caFiles() {
		b, err := os.ReadFile(l.tls(f))
		if err != nil {
			return fmt.Errorf("bootstrap material: %w", err)
		}
		data[f] = b
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapSecret, Namespace: "kube-system",
			Annotations: map[string]string{"k3s-standin.foundry.dev/stand-in": "true"}},
		Data: data,
	}
	if err := createOrUpdate(ctx, "secret", func() error {
		_, err := cs.CoreV1().Secrets("kube-system").Create(ctx, sec, metav1.CreateOptions{})
		return err
	}, func() error {
		_, err := cs.CoreV1().Secrets("kube-system").Update(ctx, sec, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return err
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapRBAC, Namespace: "kube-system"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
			ResourceNames: []string{bootstrapSecret}, Verbs: []string{"get"}}},
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapRBAC, Namespace: "kube-system"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: bootstrapRBAC},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: joinGroup}},
	}
	// kwok does more than a kubelet's Node authorizer allows (it patches
	// node status fields and pods freely), so nodes get these rights too.
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: kwokRBAC},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes", "nodes/status", "pods", "pods/status", "events"}, Verbs: []string{"*"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"*"}},
			{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"*"}},
		},
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: kwokRBAC},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: kwokRBAC},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "system:nodes"}},
	}
	steps := []struct {
		what           string
		create, update func() error
	}{
		{"role", func() error {
			_, e := cs.RbacV1().Roles("kube-system").Create(ctx, role, metav1.CreateOptions{})
			return e
		},
			func() error {
				_, e := cs.RbacV1().Roles("kube-system").Update(ctx, role, metav1.UpdateOptions{})
				return e
			}},
		{"rolebinding", func() error {
			_, e := cs.RbacV1().RoleBindings("kube-system").Create(ctx, rb, metav1.CreateOptions{})
			return e
		}, func() error {
			_, e := cs.RbacV1().RoleBindings("kube-system").Update(ctx, rb, metav1.UpdateOptions{})
			return e
		}},
		{"clusterrole", func() error { _, e := cs.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); return e },
			func() error { _, e := cs.RbacV1().ClusterRoles().Update(ctx, cr, metav1.UpdateOptions{}); return e }},
		{"clusterrolebinding", func() error {
			_, e := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
			return e
		}, func() error {
			_, e := cs.RbacV1().ClusterRoleBindings().Update(ctx, crb, metav1.UpdateOptions{})
			return e
		}},
	}
	for _, s := range steps {
		if err := createOrUpdate(ctx, s.what, s.create, s.update); err != nil {
			return err
		}
	}
	return nil
}

// createOrUpdate creates, and on AlreadyExists updates; an Update without
// resourceVersion is accepted for these kinds (unconditional update).
func createOrUpdate(ctx context.Context, what string, create, update func() error) error {
	err := create()
	if apierrors.IsAlreadyExists(err) {
		err = update()
	}
	if err != nil {
		return fmt.Errorf("bootstrap %s: %w", what, err)
	}
	return nil
}

// fetchServerCA learns the server CA from the TLS handshake (the serving
// certificate is sent with its CA) without trusting it, and checks it
// against the hash in the token when there is one.
func fetchServerCA(ctx context.Context, serverURL string, tok joinToken) ([]byte, error) {
	var chain []*x509.Certificate
	tr := &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // verified below against the token's hash
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return nil
		},
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, serverURL+"/readyz", nil)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", serverURL, err)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", serverURL, err)
	}
	resp.Body.Close()
	if len(chain) < 2 {
		return nil, fmt.Errorf("join %s: server sent no CA in its certificate chain", serverURL)
	}
	ca := chain[len(chain)-1]
	if !ca.IsCA {
		return nil, fmt.Errorf("join %s: last certificate of the chain is not a CA", serverURL)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	if tok.CAHash != "" && caHash(caPEM) != tok.CAHash {
		return nil, permanent(fmt.Errorf("join %s: server CA hash %s does not match the token's %s", serverURL, caHash(caPEM), tok.CAHash))
	}
	return caPEM, nil
}

// fetchBootstrap reads the bootstrap Secret with the join token, trusting
// only caPEM, and writes the CA material under server/tls.
func fetchBootstrap(ctx context.Context, serverURL string, caPEM []byte, tok joinToken, l layout) error {
	cfg := &rest.Config{Host: serverURL, BearerToken: tok.Secret,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}, Timeout: 15 * time.Second}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("join client: %w", err)
	}
	sec, err := cs.CoreV1().Secrets("kube-system").Get(ctx, bootstrapSecret, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read bootstrap secret from %s (wrong token?): %w", serverURL, err)
	}
	for _, f := range caFiles() {
		b, ok := sec.Data[f]
		if !ok {
			return fmt.Errorf("bootstrap secret lacks %s", f)
		}
		if err := writeFile(l.tls(f), b, 0o600); err != nil {
			return err
		}
	}
	if string(sec.Data["server-ca.crt"]) != string(caPEM) {
		return errors.New("bootstrap secret's server CA differs from the one the server presented")
	}
	return nil
}
