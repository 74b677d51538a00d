package truenas

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

// SystemInfo is the part of /system/info Foundry shows.
type SystemInfo struct {
	Version       string  `json:"version"`
	Hostname      string  `json:"hostname"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// Pool is a ZFS pool; sizes are bytes.
type Pool struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	Status    string `json:"status"`
	Healthy   bool   `json:"healthy"`
	Size      uint64 `json:"size"`
	Allocated uint64 `json:"allocated"`
	Free      uint64 `json:"free"`
}

// Dataset types.
const (
	TypeFilesystem = "FILESYSTEM"
	TypeVolume     = "VOLUME"
)

// Dataset is a filesystem dataset or a zvol (Type VOLUME).
type Dataset struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Pool       string   `json:"pool"`
	Type       string   `json:"type"`
	Mountpoint string   `json:"mountpoint,omitempty"`
	Used       ZFSValue `json:"used"`
	Available  ZFSValue `json:"available"`
	Volsize    ZFSValue `json:"volsize"`
}

// ZFSValue is TrueNAS's shape for a ZFS property: {parsed, rawvalue,
// value}. Bytes reads the number whichever of them TrueNAS filled.
type ZFSValue struct {
	Parsed   json.RawMessage `json:"parsed,omitempty"`
	RawValue string          `json:"rawvalue,omitempty"`
	Value    *string         `json:"value,omitempty"`
}

// Bytes is the property as a byte count (0 when absent or not numeric).
func (v ZFSValue) Bytes() uint64 {
	var n uint64
	if len(v.Parsed) > 0 && json.Unmarshal(v.Parsed, &n) == nil {
		return n
	}
	if n, err := strconv.ParseUint(v.RawValue, 10, 64); err == nil {
		return n
	}
	return 0
}

// NFSShare is one NFS export.
type NFSShare struct {
	ID       int      `json:"id"`
	Path     string   `json:"path"`
	Comment  string   `json:"comment"`
	Networks []string `json:"networks"`
	Hosts    []string `json:"hosts"`
	ReadOnly bool     `json:"ro"`
	Enabled  bool     `json:"enabled"`
}

// SystemInfo reads /system/info; it is the cheapest authenticated call.
func (c *Client) SystemInfo(ctx context.Context) (SystemInfo, error) {
	var out SystemInfo
	return out, c.do(ctx, "GET", "system/info", nil, &out)
}

// Pools lists the pools.
func (c *Client) Pools(ctx context.Context) ([]Pool, error) {
	var out []Pool
	return out, c.do(ctx, "GET", "pool", nil, &out)
}

// Datasets lists every dataset and zvol (TrueNAS's flat list).
func (c *Client) Datasets(ctx context.Context) ([]Dataset, error) {
	var out []Dataset
	return out, c.do(ctx, "GET", "pool/dataset", nil, &out)
}

// NFSShares lists the NFS exports.
func (c *Client) NFSShares(ctx context.Context) ([]NFSShare, error) {
	var out []NFSShare
	return out, c.do(ctx, "GET", "sharing/nfs", nil, &out)
}

// CreateDataset creates a filesystem dataset.
func (c *Client) CreateDataset(ctx context.Context, name string) (Dataset, error) {
	var out Dataset
	return out, c.do(ctx, "POST", "pool/dataset", map[string]any{"name": name, "type": TypeFilesystem}, &out)
}

// DeleteDataset deletes a dataset that has no children.
func (c *Client) DeleteDataset(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "pool/dataset/id/"+url.PathEscape(name), nil, nil)
}
