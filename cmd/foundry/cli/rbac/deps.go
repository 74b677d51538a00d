package rbac

import (
	"context"
	"errors"
	"fmt"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/installer/access"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// Deps are what the user and service-account verbs reach: the access
// model on the stack's cluster and OpenBAO, and the controller's word on
// who is calling. Tests (and the e2e suite) swap them.
type Deps struct {
	// Access opens the user model with the cluster's admin kubeconfig
	// and Foundry's OpenBAO token.
	Access func(ctx context.Context) (*access.Manager, error)
	// RequireAdmin refuses a caller that is not an admin operator of
	// Foundry. Foundry holds the cluster's admin credentials, so the
	// controller's roles decide who may hand out access, not the
	// credentials this machine happens to have.
	RequireAdmin func(ctx context.Context) error
}

// NewDeps wires the real dependencies from the factory.
func NewDeps(f *cmdutil.Factory) Deps {
	return Deps{Access: func(ctx context.Context) (*access.Manager, error) { return openAccess(ctx, f) },
		RequireAdmin: func(ctx context.Context) error { return RequireAdmin(ctx, f.Connect) }}
}

func openAccess(ctx context.Context, f *cmdutil.Factory) (*access.Manager, error) {
	e := clicomp.NewEnv(f)
	cfg, err := e.Stack()
	if err != nil {
		return nil, err
	}
	home, err := e.Home()
	if err != nil {
		return nil, err
	}
	st, bao, err := kube.OpenStore(home, cfg, e.Getenv, clicomp.OpenBAOCAFile(e))
	if err != nil {
		return nil, err
	}
	if bao == nil {
		return nil, errors.New("users live in OpenBAO, and the stack config names none: install it (foundry component install openbao) and set foundry.openbao.address")
	}
	cluster := cfg.Cluster.Name
	if cluster == "" {
		cluster = "default"
	}
	kc, err := st.LoadKubeconfig(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("the cluster's admin kubeconfig is needed (run foundry cluster init): %w", err)
	}
	kcl, err := kube.New(kc)
	if err != nil {
		return nil, err
	}
	return &access.Manager{Kube: kcl.Kube, REST: kcl.REST, Cluster: cluster, Bao: bao, Logger: f.Logger}, nil
}

// RequireAdmin asks the controller for its operators, an admin-only
// call, and finds the caller's key among them with the admin role. A
// read-only operator is refused by the controller (and named here).
func RequireAdmin(ctx context.Context, connect func(context.Context) (*client.Client, error)) error {
	cl, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.ListOperators(ctx)
	if err != nil {
		if errors.Is(err, client.ErrUnreachable) || ctx.Err() != nil {
			return fmt.Errorf("check that this operator is an admin: %w", err)
		}
		// The operator list is admin-only: the controller (or NATS's
		// permissions) refusing it is the answer.
		return fmt.Errorf("only an admin operator of Foundry may manage users and service accounts (%w)", err)
	}
	for _, op := range res.Operators {
		if op.PublicKey != cl.PublicKey() || op.Revoked != 0 {
			continue
		}
		if op.Role != messages.RoleAdmin {
			return fmt.Errorf("operator %s is %s; only an admin operator of Foundry may manage users and service accounts", op.Name, op.Role)
		}
		return nil
	}
	return errors.New("this operator's key is not an active operator of the controller; check --creds")
}
