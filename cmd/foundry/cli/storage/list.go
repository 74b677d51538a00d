package storage

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/installer/truenas"
)

// ListOptions are the inputs of `storage list`.
type ListOptions struct {
	IO   *cmdutil.IOStreams
	Ctx  context.Context
	Deps Deps
	JSON bool
}

// NewCmdList is `foundry storage list`.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, Deps: newDeps(f)}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List TrueNAS pools, datasets, zvols and NFS shares",
		Long: `List what the configured TrueNAS holds: pools (size, allocated, free),
datasets and zvols (used, available; a zvol's size), and NFS shares.

On a terminal the output is one aligned table with a KIND column (pool,
dataset, zvol, nfs-share); piped, it is tab-separated rows without a
header. --json gives sizes in bytes.`,
		Example: `  foundry storage list
  foundry storage list --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON (sizes in bytes)")
	return cmd
}

// Inventory is `storage list --json`.
type Inventory struct {
	APIURL    string        `json:"api_url"`
	Pools     []PoolRow     `json:"pools"`
	Datasets  []DatasetRow  `json:"datasets"`
	Zvols     []DatasetRow  `json:"zvols"`
	NFSShares []NFSShareRow `json:"nfs_shares"`
}

// PoolRow is one pool, sizes in bytes.
type PoolRow struct {
	Name      string `json:"name"`
	Status    string `json:"status"`
	Healthy   bool   `json:"healthy"`
	Size      uint64 `json:"size"`
	Allocated uint64 `json:"allocated"`
	Free      uint64 `json:"free"`
}

// DatasetRow is one dataset or zvol, sizes in bytes; Size is a zvol's
// volume size (0 for a dataset).
type DatasetRow struct {
	Name       string `json:"name"`
	Pool       string `json:"pool"`
	Used       uint64 `json:"used"`
	Available  uint64 `json:"available"`
	Size       uint64 `json:"size,omitempty"`
	Mountpoint string `json:"mountpoint,omitempty"`
}

// NFSShareRow is one NFS export.
type NFSShareRow struct {
	Path     string   `json:"path"`
	Enabled  bool     `json:"enabled"`
	ReadOnly bool     `json:"read_only"`
	Networks []string `json:"networks"`
	Hosts    []string `json:"hosts"`
}

// inventory reads the three lists from TrueNAS.
func inventory(ctx context.Context, c *truenas.Client, apiURL string) (*Inventory, error) {
	pools, err := c.Pools(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	ds, err := c.Datasets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	shares, err := c.NFSShares(ctx)
	if err != nil {
		return nil, fmt.Errorf("list NFS shares: %w", err)
	}
	inv := &Inventory{APIURL: apiURL, Pools: []PoolRow{}, Datasets: []DatasetRow{}, Zvols: []DatasetRow{}, NFSShares: []NFSShareRow{}}
	for _, p := range pools {
		inv.Pools = append(inv.Pools, PoolRow{Name: p.Name, Status: p.Status, Healthy: p.Healthy, Size: p.Size, Allocated: p.Allocated, Free: p.Free})
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	for _, d := range ds {
		r := DatasetRow{Name: d.Name, Pool: d.Pool, Used: d.Used.Bytes(), Available: d.Available.Bytes(), Mountpoint: d.Mountpoint}
		if d.Type == truenas.TypeVolume {
			r.Size = d.Volsize.Bytes()
			inv.Zvols = append(inv.Zvols, r)
		} else {
			inv.Datasets = append(inv.Datasets, r)
		}
	}
	for _, s := range shares {
		inv.NFSShares = append(inv.NFSShares, NFSShareRow{Path: s.Path, Enabled: s.Enabled, ReadOnly: s.ReadOnly,
			Networks: nonNil(s.Networks), Hosts: nonNil(s.Hosts)})
	}
	return inv, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func listRun(o *ListOptions) error {
	ctx := o.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	f, t, err := o.Deps.loadTrueNAS()
	if err != nil {
		return err
	}
	c, _, err := o.Deps.client(ctx, &f.Config, *t)
	if err != nil {
		return err
	}
	inv, err := inventory(ctx, c, t.APIURL)
	if err != nil {
		return fmt.Errorf("TrueNAS at %s: %w; run foundry storage test to see which step fails", t.APIURL, err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, inv)
	}
	return renderInventory(o.IO, inv)
}

// renderInventory is one table for everything, so piped rows stay
// uniform (cut -f1 gives the kind).
func renderInventory(io *cmdutil.IOStreams, inv *Inventory) error {
	t := cmdutil.NewTable(io, "KIND", "NAME", "USED", "AVAILABLE", "SIZE", "DETAIL")
	for _, p := range inv.Pools {
		detail := p.Status
		if !p.Healthy {
			detail += " (unhealthy)"
		}
		t.Row("pool", p.Name, cmdutil.Bytes(p.Allocated), cmdutil.Bytes(p.Free), cmdutil.Bytes(p.Size), detail)
	}
	for _, d := range inv.Datasets {
		t.Row("dataset", d.Name, cmdutil.Bytes(d.Used), cmdutil.Bytes(d.Available), "-", orDash(d.Mountpoint))
	}
	for _, d := range inv.Zvols {
		t.Row("zvol", d.Name, cmdutil.Bytes(d.Used), cmdutil.Bytes(d.Available), cmdutil.Bytes(d.Size), "-")
	}
	for _, s := range inv.NFSShares {
		t.Row("nfs-share", s.Path, "-", "-", "-", shareDetail(s))
	}
	return t.Render()
}

func shareDetail(s NFSShareRow) string {
	var parts []string
	if !s.Enabled {
		parts = append(parts, "disabled")
	}
	if s.ReadOnly {
		parts = append(parts, "read-only")
	} else {
		parts = append(parts, "read-write")
	}
	who := append(append([]string{}, s.Networks...), s.Hosts...)
	if len(who) == 0 {
		who = []string{"everyone"}
	}
	parts = append(parts, "for "+strings.Join(who, ","))
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
