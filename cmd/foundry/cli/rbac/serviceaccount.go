package rbac

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/installer/access"
)

// NewCmdServiceAccount is the `rbac serviceaccount` noun.
func NewCmdServiceAccount(f *cmdutil.Factory, d Deps) *cobra.Command {
	cmd := &cobra.Command{Use: "serviceaccount <verb>", Aliases: []string{"sa"}, Short: "Create service accounts for applications"}
	cmd.AddCommand(NewCmdServiceAccountCreate(f, d, nil))
	return cmd
}

// ServiceAccountCreateOptions are the flags of `rbac serviceaccount create`.
type ServiceAccountCreateOptions struct {
	IO        *cmdutil.IOStreams
	Deps      Deps
	Name      string
	Namespace string
	Role      string
	DryRun    bool
	Yes       bool
	JSON      bool
}

// NewCmdServiceAccountCreate is `foundry rbac serviceaccount create <name> --namespace NS`.
func NewCmdServiceAccountCreate(f *cmdutil.Factory, d Deps, runF func(context.Context, *ServiceAccountCreateOptions) error) *cobra.Command {
	opts := &ServiceAccountCreateOptions{IO: f.IO, Deps: d}
	cmd := &cobra.Command{
		Use:   "create <name> --namespace NS [--role ROLE]",
		Short: "Create a ServiceAccount with a bound token Secret and a role binding",
		Long: `Create a ServiceAccount in --namespace, a Secret <name>-token of type
kubernetes.io/service-account-token that the cluster fills with a token
bound to it, and a RoleBinding of --role in the namespace (cluster-admin:
a ClusterRoleBinding). Once the cluster has filled the token, a copy goes
to OpenBAO at serviceaccounts/<namespace>/<name> (key token), where an
application's config can reference it as ${secret:...}. A re-run makes
only what is missing. The token is never printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := access.ValidName("service account", opts.Name); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if opts.Namespace == "" {
				return cmdutil.FlagErrorf("--namespace is required: a service account lives in one namespace")
			}
			if err := access.ValidNamespace(opts.Namespace); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if err := access.ValidRole(opts.Role); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serviceAccountCreateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Namespace, "namespace", "n", "", "namespace of the service account (required)")
	cmd.Flags().StringVar(&opts.Role, "role", "view", "ClusterRole to bind: "+strings.Join(access.Roles, ", "))
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "check everything and say what would be made, change nothing")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func serviceAccountCreateRun(ctx context.Context, o *ServiceAccountCreateOptions) error {
	if err := o.Deps.RequireAdmin(ctx); err != nil {
		return err
	}
	m, err := o.Deps.Access(ctx)
	if err != nil {
		return err
	}
	req := access.ServiceAccountCreate{Name: o.Name, Namespace: o.Namespace, Role: o.Role, DryRun: true}
	plan, err := m.CreateServiceAccount(ctx, req)
	if err != nil {
		return fmt.Errorf("create service account %s: %w", o.Name, access.OneLine(err))
	}
	if o.DryRun || plan.Unchanged {
		if o.JSON {
			return cmdutil.WriteJSON(o.IO.Out, plan)
		}
		if plan.Unchanged {
			_, err = fmt.Fprintf(o.IO.Out, "Service account %s/%s, its token Secret and binding exist; nothing changed.\n", o.Namespace, o.Name)
			return err
		}
		return printPlan(o.IO, false, plan, prefix("create ", plan.Created))
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Create %s?", strings.Join(plan.Created, ", "))); err != nil {
		return err
	}
	req.DryRun = false
	res, err := m.CreateServiceAccount(ctx, req)
	if err != nil {
		return fmt.Errorf("create service account %s (nothing of it was kept): %w", o.Name, access.OneLine(err))
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, res)
	}
	fmt.Fprintf(o.IO.Out, "Created %s.\n", strings.Join(res.Created, ", "))
	if !res.Stored {
		fmt.Fprintf(o.IO.ErrOut, "note: the cluster has not filled Secret %s/%s with a token yet, so OpenBAO has no copy; re-run this command once it has (is kube-controller-manager running?)\n", o.Namespace, res.TokenSecret)
	}
	return nil
}

func prefix(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}
