package rbac

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/installer/access"
)

// UsersListOptions are the flags of `rbac list`.
type UsersListOptions struct {
	IO        *cmdutil.IOStreams
	Deps      Deps
	Namespace string
	JSON      bool
}

// NewCmdUsersList is `foundry rbac list`: users and service accounts,
// joined from OpenBAO and Kubernetes. Operators are listed by
// `rbac operator list`.
func NewCmdUsersList(f *cmdutil.Factory, d Deps, runF func(context.Context, *UsersListOptions) error) *cobra.Command {
	opts := &UsersListOptions{IO: f.IO, Deps: d}
	cmd := &cobra.Command{
		Use:   "list [--namespace NS]",
		Short: "List users and service accounts: what OpenBAO knows and what Kubernetes grants",
		Long: `List users (OpenBAO entities, with their userpass alias and policies) and
Foundry's service accounts (with their token's copy in OpenBAO), each
with every Kubernetes binding that names
it: NS:ROLE for a ClusterRole bound in a namespace, *:ROLE cluster-wide,
NS:Role/NAME for a namespaced Role. A user that one side knows and the
other does not is flagged, and the exit code is then 1. Foundry's own
operators are listed by foundry rbac operator list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Namespace != "" {
				if err := access.ValidNamespace(opts.Namespace); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return usersListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Namespace, "namespace", "n", "", "only this namespace's bindings and service accounts")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func usersListRun(ctx context.Context, o *UsersListOptions) error {
	if err := o.Deps.RequireAdmin(ctx); err != nil {
		return err
	}
	m, err := o.Deps.Access(ctx)
	if err != nil {
		return err
	}
	subs, err := m.List(ctx, o.Namespace)
	if err != nil {
		return fmt.Errorf("list users: %w", access.OneLine(err))
	}
	if subs == nil {
		subs = []access.Subject{}
	}
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, subs); err != nil {
			return err
		}
		return problems(subs)
	}
	t := cmdutil.NewTable(o.IO, "KIND", "NAME", "OPENBAO", "KUBERNETES", "PROBLEM")
	for _, s := range subs {
		name := s.Name
		var bao string
		if s.Kind == "serviceaccount" {
			name = s.Namespace + "/" + s.Name
			bao = "missing"
			if s.InOpenBAO {
				bao = "token"
			}
		} else {
			bao = "missing"
			if s.InOpenBAO {
				bao = "entity"
				if s.Userpass {
					bao += "+userpass"
				}
			}
		}
		var g []string
		for _, x := range s.Grants {
			g = append(g, x.String())
		}
		grants := strings.Join(g, ",")
		if grants == "" {
			grants = "none"
		}
		t.Row(s.Kind, name, bao, grants, s.Problem)
	}
	if err := t.Render(); err != nil {
		return err
	}
	return problems(subs)
}

func problems(subs []access.Subject) error {
	n := 0
	for _, s := range subs {
		if s.Problem != "" {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%d subject(s) are known to only one side; see the PROBLEM column", n)
	}
	return nil
}
