package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/installer/access"
)

// NewCmdUser is the `rbac user` noun.
func NewCmdUser(f *cmdutil.Factory, d Deps) *cobra.Command {
	cmd := &cobra.Command{Use: "user <verb>", Short: "Create users (OpenBAO entity + Kubernetes RBAC) and widen their permissions"}
	cmd.AddCommand(NewCmdUserCreate(f, d, nil), NewCmdUserGrant(f, d, nil))
	return cmd
}

// UserCreateOptions are the flags of `rbac user create`.
type UserCreateOptions struct {
	IO             *cmdutil.IOStreams
	Deps           Deps
	Name           string
	Namespace      string
	Role           string
	PasswordStdin  bool
	ShowKubeconfig bool
	DryRun         bool
	Yes            bool
	JSON           bool
}

// NewCmdUserCreate is `foundry rbac user create <username>`.
func NewCmdUserCreate(f *cmdutil.Factory, d Deps, runF func(context.Context, *UserCreateOptions) error) *cobra.Command {
	opts := &UserCreateOptions{IO: f.IO, Deps: d}
	cmd := &cobra.Command{
		Use:   "create <username> [--namespace NS] [--role cluster-admin|admin|edit|view]",
		Short: "Create a user in OpenBAO and Kubernetes, with a kubeconfig kept in OpenBAO",
		Long: `Create a user: an OpenBAO entity with an alias in the userpass auth method
(enabled if absent), a policy for the user's own secrets (users/<name>/*),
a Kubernetes binding of --role (a RoleBinding in --namespace, or a
ClusterRoleBinding without it), and a client certificate issued through
the cluster's CSR API. The user's kubeconfig (and the password, when it
was generated) are stored in OpenBAO at users/<name>/credentials; read
them with foundry secret get. --show-kubeconfig also prints the
kubeconfig, on a terminal only. The password is read with
--password-stdin or generated; it is never printed.

Everything is checked before the first change, and a failure undoes what
was made. Only an admin operator of Foundry may create users.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := access.ValidName("user", opts.Name); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if opts.Role != "" {
				if err := access.ValidRole(opts.Role); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			if opts.Namespace != "" {
				if err := access.ValidNamespace(opts.Namespace); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			if opts.ShowKubeconfig && opts.JSON {
				return cmdutil.FlagErrorf("--show-kubeconfig cannot be combined with --json")
			}
			if opts.ShowKubeconfig && !opts.IO.IsStdoutTTY() {
				return cmdutil.FlagErrorf("refusing to print a kubeconfig when stdout is not a terminal; read it with foundry secret get users/%s/credentials", opts.Name)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return userCreateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Namespace, "namespace", "n", "", "bind --role in this namespace (default: cluster-wide)")
	cmd.Flags().StringVar(&opts.Role, "role", "", "ClusterRole to bind: "+strings.Join(access.Roles, ", ")+" (default: none yet)")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the user's OpenBAO password from stdin (default: generate one)")
	cmd.Flags().BoolVar(&opts.ShowKubeconfig, "show-kubeconfig", false, "also print the user's kubeconfig (terminal only)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "check everything and say what would be made, change nothing")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func userCreateRun(ctx context.Context, o *UserCreateOptions) error {
	if err := o.Deps.RequireAdmin(ctx); err != nil {
		return err
	}
	m, err := o.Deps.Access(ctx)
	if err != nil {
		return err
	}
	req := access.UserCreate{Name: o.Name, Namespace: o.Namespace, Role: o.Role, DryRun: true}
	plan, err := m.CreateUser(ctx, req)
	if err != nil {
		return fmt.Errorf("create user %s: %w", o.Name, access.OneLine(err))
	}
	if o.DryRun {
		return printPlan(o.IO, o.JSON, plan, plan.Steps)
	}
	if o.PasswordStdin {
		pw, err := o.IO.ReadSecret(fmt.Sprintf("OpenBAO password for %s (input hidden): ", o.Name))
		if err != nil || len(pw) == 0 {
			return errors.New("--password-stdin read no password; pipe one line with the password")
		}
		req.Password = pw
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Create user %s?\n  %s\n", o.Name, strings.Join(plan.Steps, "\n  "))); err != nil {
		return err
	}
	req.DryRun = false
	res, err := m.CreateUser(ctx, req)
	if err != nil {
		return fmt.Errorf("create user %s (nothing of it was kept): %w", o.Name, access.OneLine(err))
	}
	creds := access.UserCredentialsPath(o.Name)
	switch {
	case o.JSON:
		return cmdutil.WriteJSON(o.IO.Out, res)
	case !o.IO.IsStdoutTTY():
		_, err = fmt.Fprintln(o.IO.Out, strings.Join([]string{res.Name, res.EntityID, strings.Join(res.Bindings, ","), creds}, "\t"))
		return err
	}
	fmt.Fprintf(o.IO.Out, "Created user %s (OpenBAO entity %s, policy %s).\n", res.Name, res.EntityID, res.Policy)
	if len(res.Bindings) > 0 {
		where := "cluster-wide"
		if o.Namespace != "" {
			where = "in namespace " + o.Namespace
		}
		fmt.Fprintf(o.IO.Out, "Kubernetes: %s is bound %s (%s).\n", o.Role, where, res.Bindings[0])
	} else {
		fmt.Fprintf(o.IO.Out, "Kubernetes: no permissions yet; add them with foundry rbac user grant %s --namespace NS --permissions VERBS:RESOURCES\n", o.Name)
	}
	what := "kubeconfig is"
	if res.PasswordGenerated {
		what = "kubeconfig and generated password are"
	}
	fmt.Fprintf(o.IO.Out, "The %s in OpenBAO at %s (foundry secret get %s).\n", what, creds, creds)
	if o.ShowKubeconfig {
		_, err = o.IO.Out.Write(res.Kubeconfig)
	}
	return err
}

func printPlan(ios *cmdutil.IOStreams, asJSON bool, v any, steps []string) error {
	if asJSON {
		return cmdutil.WriteJSON(ios.Out, v)
	}
	if len(steps) == 0 {
		_, err := fmt.Fprintln(ios.Out, "Nothing to do: everything exists already.")
		return err
	}
	fmt.Fprintln(ios.Out, "Dry run; would:")
	for _, s := range steps {
		fmt.Fprintf(ios.Out, "  %s\n", s)
	}
	return nil
}

// UserGrantOptions are the flags of `rbac user grant`.
type UserGrantOptions struct {
	IO          *cmdutil.IOStreams
	Deps        Deps
	Name        string
	Namespace   string
	Permissions []access.Permission
	DryRun      bool
	Yes         bool
	JSON        bool
}

// NewCmdUserGrant is `foundry rbac user grant <username> --namespace NS --permissions PERMS`.
func NewCmdUserGrant(f *cmdutil.Factory, d Deps, runF func(context.Context, *UserGrantOptions) error) *cobra.Command {
	opts := &UserGrantOptions{IO: f.IO, Deps: d}
	var perms []string
	cmd := &cobra.Command{
		Use:   "grant <username> --namespace NS --permissions VERBS:RESOURCES",
		Short: "Widen a user's permissions in a namespace (a Role and its RoleBinding)",
		Long: `Add permissions to the user's Role in a namespace (foundry-user-<name>,
made and bound on the first grant). --permissions takes verbs:resources,
such as get,list:pods,deployments; repeat the flag or join terms with ';'.
A resource may name its API group (deployments.apps); otherwise the
cluster's discovery finds it, and an unknown resource is refused. A grant
never narrows, and one already held changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := access.ValidName("user", opts.Name); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if opts.Namespace == "" {
				return cmdutil.FlagErrorf("--namespace is required: a grant is a Role in one namespace")
			}
			if err := access.ValidNamespace(opts.Namespace); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			p, err := access.ParsePermissions(perms)
			if err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			opts.Permissions = p
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return userGrantRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Namespace, "namespace", "n", "", "namespace of the grant (required)")
	cmd.Flags().StringArrayVar(&perms, "permissions", nil, "verbs:resources, e.g. get,list:pods,deployments (repeatable)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "check everything and say what would change, change nothing")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func userGrantRun(ctx context.Context, o *UserGrantOptions) error {
	if err := o.Deps.RequireAdmin(ctx); err != nil {
		return err
	}
	m, err := o.Deps.Access(ctx)
	if err != nil {
		return err
	}
	req := access.UserGrant{Name: o.Name, Namespace: o.Namespace, Permissions: o.Permissions, DryRun: true}
	plan, err := m.Grant(ctx, req)
	if err != nil {
		return fmt.Errorf("grant %s: %w", o.Name, access.OneLine(err))
	}
	if o.DryRun || plan.Unchanged {
		if o.JSON {
			return cmdutil.WriteJSON(o.IO.Out, plan)
		}
		if plan.Unchanged {
			_, err = fmt.Fprintf(o.IO.Out, "%s already holds these permissions in %s; nothing changed.\n", o.Name, o.Namespace)
			return err
		}
		_, err = fmt.Fprintf(o.IO.Out, "Dry run; would add %d rule(s) to Role %s/%s, bound to user %s.\n", plan.Added, o.Namespace, plan.Role, o.Name)
		return err
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Add %d rule(s) to %s's Role in %s?", plan.Added, o.Name, o.Namespace)); err != nil {
		return err
	}
	req.DryRun = false
	res, err := m.Grant(ctx, req)
	if err != nil {
		return fmt.Errorf("grant %s: %w", o.Name, access.OneLine(err))
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, res)
	}
	_, err = fmt.Fprintf(o.IO.Out, "Granted %s %d more rule(s) in %s (Role %s, %d rule(s) in all).\n", o.Name, res.Added, o.Namespace, res.Role, len(res.Rules))
	return err
}
