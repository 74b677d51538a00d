package access

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Vault is the part of OpenBAO's API the access model uses: logical
// reads and writes on any path (secrets.BaoClient implements it). Read
// returns an error wrapping secrets.ErrNotFound for an empty path.
type Vault interface {
	Read(ctx context.Context, op, path string) (map[string]any, error)
	Write(ctx context.Context, op, path string, data map[string]any) (map[string]any, error)
	Delete(ctx context.Context, op, path string) error
	List(ctx context.Context, op, path string) ([]string, error)
	// Mount is the KV v2 mount users' secrets live on.
	Mount() string
}

// Manager creates and lists users and service accounts on one cluster
// and one OpenBAO. Kube must be the cluster's admin client.
type Manager struct {
	Kube kubernetes.Interface
	// REST is the admin connection; its server and CA go into users'
	// kubeconfigs.
	REST *rest.Config
	// Cluster names the cluster in users' kubeconfigs.
	Cluster string
	Bao     Vault
	Logger  *slog.Logger
	// CertTTL is how long a user's certificate is valid (default a year;
	// the cluster may cap it with --cluster-signing-duration).
	CertTTL time.Duration
	// CertWait bounds the wait for the cluster to sign (default 1 min).
	CertWait time.Duration
}

func (m *Manager) certTTL() time.Duration {
	if m.CertTTL > 0 {
		return m.CertTTL
	}
	return 365 * 24 * time.Hour
}

func (m *Manager) certWait() time.Duration {
	if m.CertWait > 0 {
		return m.CertWait
	}
	return time.Minute
}

func (m *Manager) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// Labels Foundry puts on what it makes in Kubernetes.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelSubject   = "foundry.dev/rbac-subject"
	managedBy      = "foundry"
)

func labels(subject string) map[string]string {
	return map[string]string{LabelManagedBy: managedBy, LabelSubject: subject}
}

// undo collects the compensations of a multi-step change, run in reverse
// when a later step fails.
type undo struct {
	steps []func(context.Context) error
	log   *slog.Logger
}

func (u *undo) add(f func(context.Context) error) { u.steps = append(u.steps, f) }

// run undoes with a fresh context: the caller's may be what failed.
func (u *undo) run() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(u.steps) - 1; i >= 0; i-- {
		if err := u.steps[i](ctx); err != nil {
			u.log.Warn("could not undo a step of a failed change; remove it by hand", "err", err)
		}
	}
}

// lineErr keeps an error's chain but prints it on one line: the OpenBAO
// client's errors span several ("Error making API request.\n\nURL: ...").
type lineErr struct{ err error }

func (e lineErr) Error() string { return strings.Join(strings.Fields(e.err.Error()), " ") }
func (e lineErr) Unwrap() error { return e.err }

// OneLine returns err printed on one line, still matching errors.Is/As.
func OneLine(err error) error {
	if err == nil || !strings.ContainsAny(err.Error(), "\r\n") {
		return err
	}
	return lineErr{err}
}
