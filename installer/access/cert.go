package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// UserGroup is the organisation in every user certificate Foundry has
// issued, so a binding can name all of Foundry's users at once.
const UserGroup = "foundry:users"

// issueClientCert makes a key and has the cluster sign a client
// certificate for user through the CSR API: create, approve (Foundry's
// admin credentials may, as kubectl certificate approve does), wait for
// the signer. The request is deleted afterwards either way: the
// certificate is what counts, and a stale request only clutters
// `kubectl get csr`.
func (m *Manager) issueClientCert(ctx context.Context, user string) (keyPEM, certPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate a key for %s: %w", user, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: user, Organization: []string{UserGroup}}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make the certificate request for %s: %w", user, err)
	}
	keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, nil, err
	}
	ttl := int32(m.certTTL().Seconds())
	csr := &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "foundry-user-" + user + "-", Labels: labels(user)},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName:        certv1.KubeAPIServerClientSignerName,
			ExpirationSeconds: &ttl,
			Usages:            []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		},
	}
	api := m.Kube.CertificatesV1().CertificateSigningRequests()
	csr, err = api.Create(ctx, csr, metav1.CreateOptions{})
	if err != nil {
		return nil, nil, m.apiErr("create the certificate signing request for "+user, err)
	}
	defer func() {
		// A fresh context: the caller's may be what ran out.
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = api.Delete(dctx, csr.Name, metav1.DeleteOptions{})
	}()
	csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: "FoundryRbacUserCreate", Message: "approved by foundry rbac user create for " + user,
	})
	if _, err := api.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		return nil, nil, m.apiErr("approve the certificate signing request "+csr.Name, err)
	}
	certPEM, err = m.waitCert(ctx, csr.Name)
	if err != nil {
		return nil, nil, err
	}
	return keyPEM, certPEM, nil
}

// waitCert watches the request until the signer fills in the
// certificate, or says it failed, or the wait runs out.
func (m *Manager) waitCert(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.certWait())
	defer cancel()
	api := m.Kube.CertificatesV1().CertificateSigningRequests()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	for {
		cur, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, m.waitErr(ctx, name, err)
		}
		if c, done, err := certOf(cur); done {
			return c, err
		}
		w, err := api.Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: cur.ResourceVersion})
		if err != nil {
			return nil, m.waitErr(ctx, name, err)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break
			}
			if obj, ok := ev.Object.(*certv1.CertificateSigningRequest); ok {
				if c, done, err := certOf(obj); done {
					w.Stop()
					return c, err
				}
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return nil, m.waitErr(ctx, name, ctx.Err())
		}
	}
}

func (m *Manager) waitErr(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("the cluster did not sign certificate request %s within %s: is kube-controller-manager running its csrsigning controller (--cluster-signing-cert-file and --cluster-signing-key-file)? (%w)",
			name, m.certWait(), err)
	}
	return m.apiErr("wait for certificate request "+name, err)
}

// certOf reports the issued certificate, or the signer's refusal.
func certOf(csr *certv1.CertificateSigningRequest) ([]byte, bool, error) {
	for _, c := range csr.Status.Conditions {
		if (c.Type == certv1.CertificateDenied || c.Type == certv1.CertificateFailed) && c.Status == corev1.ConditionTrue {
			return nil, true, fmt.Errorf("the cluster refused certificate request %s (%s: %s)", csr.Name, c.Reason, c.Message)
		}
	}
	if len(csr.Status.Certificate) == 0 {
		return nil, false, nil
	}
	if _, err := certutil.ParseCertsPEM(csr.Status.Certificate); err != nil {
		return nil, true, fmt.Errorf("certificate request %s holds an unreadable certificate: %w", csr.Name, err)
	}
	return csr.Status.Certificate, true, nil
}

// BuildKubeconfig assembles a kubeconfig for user from the admin
// connection's server and CA and the user's key and certificate. The
// context's namespace is the user's namespace, when it has one.
func BuildKubeconfig(admin *rest.Config, cluster, user, namespace string, keyPEM, certPEM []byte) ([]byte, error) {
	if admin == nil || admin.Host == "" {
		return nil, errors.New("no API server address to put in the kubeconfig")
	}
	ca := admin.CAData
	if len(ca) == 0 && admin.CAFile != "" {
		b, err := certutil.CertsFromFile(admin.CAFile)
		if err != nil {
			return nil, err
		}
		if ca, err = certutil.EncodeCertificates(b...); err != nil {
			return nil, err
		}
	}
	ctxName := user + "@" + cluster
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: ca, TLSServerName: admin.ServerName}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[ctxName] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: user, Namespace: namespace}
	cfg.CurrentContext = ctxName
	return clientcmd.Write(*cfg)
}

func (m *Manager) apiErr(op string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%s: the stored kubeconfig may not (%w); it must be the cluster's admin kubeconfig", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
