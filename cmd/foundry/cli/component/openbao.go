package component

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/controller/client"
	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/controller/secrets"
)

// OpenBAO's key shares: five shares, three to unseal (OpenBAO's own
// default), so one lost share is not a lost vault.
const (
	unsealShares    = 5
	unsealThreshold = 3
)

// initOpenBAO initialises and unseals OpenBAO on each host from this
// machine, straight to the host's API: the root token and unseal keys
// never pass through the controller, NATS or any log. The root token is
// shown once on a terminal (for the user's password manager) and kept as
// Foundry's token; unseal keys go to a 0600 file and are printed only
// with --show-unseal-keys.
func initOpenBAO(ctx context.Context, e Env, cl *client.Client, t comp.Target, o ApplyOptions) ([]string, error) {
	home, err := e.Home()
	if err != nil {
		return nil, err
	}
	cfg, err := e.Stack()
	if err != nil {
		return nil, err
	}
	addrs, err := hostAddresses(ctx, cl, t.Desired.Hosts)
	if err != nil {
		return nil, err
	}
	nodes := make([]baoNode, 0, len(t.Desired.Hosts))
	for _, h := range t.Desired.Hosts {
		bao, err := secrets.NewBaoClient(secrets.BaoOptions{Address: "https://" + net.JoinHostPort(addrs[h], strconv.Itoa(comp.OpenBAOPort)),
			CACert: openbaoCA(e, home)})
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, baoNode{host: h, bao: bao})
	}
	return readyNodes(ctx, e, nodes, secrets.UnsealKeys{Dir: home}, raftFirst(cfg), cfg.OpenBAOMount(), o)
}

// readyOpenBAO brings one host's OpenBAO from "service runs" to usable:
// initialised, unsealed and, on first init, with the KV v2 engine at
// mount, since a fresh server has no secrets engine and `foundry secret
// set` (and the SSH-key store) would fail on it.
func readyOpenBAO(ctx context.Context, e Env, bao *secrets.BaoClient, keys secrets.UnsealKeys, h, mount string, o ApplyOptions) ([]string, error) {
	var notes []string
	health, err := waitHealth(ctx, bao)
	if err != nil {
		return notes, fmt.Errorf("OpenBAO on %s does not answer at %s: %w", h, bao.Address(), err)
	}
	root := ""
	if !health.Initialized {
		note, tok, err := initialise(ctx, e, bao, keys, h, o)
		if err != nil {
			return notes, err
		}
		notes, root = append(notes, note), tok
	}
	st, err := bao.SealStatus(ctx)
	if err != nil {
		return notes, err
	}
	if st.Sealed {
		if err := unseal(ctx, e, bao, keys, h); err != nil {
			return notes, err
		}
		notes = append(notes, fmt.Sprintf("openbao on %s: unsealed with the keys in %s", h, keys.Path(h)))
	}
	if root == "" {
		return notes, nil
	}
	withRoot, err := bao.WithToken(root)
	if err != nil {
		return notes, err
	}
	if err := withRoot.EnableKV(ctx, mount); err != nil {
		return notes, fmt.Errorf("OpenBAO on %s is initialised and unsealed, but %w; enable it with bao secrets enable -path=%s kv-v2", h, err, mount)
	}
	return append(notes, fmt.Sprintf("openbao on %s: KV v2 secrets engine enabled at %s/", h, mount)), nil
}

func initialise(ctx context.Context, e Env, bao *secrets.BaoClient, keys secrets.UnsealKeys, host string, o ApplyOptions) (string, string, error) {
	res, err := bao.Init(ctx, unsealShares, unsealThreshold)
	if err != nil {
		return "", "", fmt.Errorf("initialise OpenBAO on %s: %w", host, err)
	}
	if err := keys.Save(host, res.Keys); err != nil {
		return "", "", fmt.Errorf("OpenBAO on %s is initialised but its unseal keys could not be saved (%w); they are lost unless shown now, re-run with --show-unseal-keys is not possible, so reinstall OpenBAO with a clean data directory", host, err)
	}
	home, _ := e.Home()
	where, err := (&secrets.TokenStore{Dir: home, Keyring: secrets.SystemKeyring()}).Save(res.RootToken)
	if err != nil {
		return "", "", fmt.Errorf("OpenBAO on %s is initialised but its root token could not be stored: %w", host, err)
	}
	if e.IO.IsStdoutTTY() && e.IO.IsStdinTTY() {
		fmt.Fprintf(e.IO.ErrOut, "\nOpenBAO on %s is initialised. Its root token, shown once — put it in your password manager now:\n\n    %s\n\n", host, res.RootToken)
		fmt.Fprint(e.IO.ErrOut, "Press Enter once it is stored. ")
		_, _ = e.IO.ReadSecret("")
	}
	if o.ShowUnsealKeys {
		fmt.Fprintf(e.IO.ErrOut, "Unseal keys for %s (%d of %d unseal it):\n  %s\n", host, unsealThreshold, unsealShares, strings.Join(res.Keys, "\n  "))
	}
	return fmt.Sprintf("openbao on %s: initialised; root token kept in the %s (%s), unseal keys in %s (0600)",
		host, where.Kind, where.Location, keys.Path(host)), res.RootToken, nil
}

func unseal(ctx context.Context, e Env, bao *secrets.BaoClient, keys secrets.UnsealKeys, host string) error {
	ks, err := keys.Load(host)
	if errors.Is(err, secrets.ErrNoUnsealKeys) && e.IO.IsStdinTTY() {
		for i := 0; i < unsealThreshold; i++ {
			k, err := e.IO.ReadSecret(fmt.Sprintf("Unseal key %d of %d for %s: ", i+1, unsealThreshold, host))
			if err != nil {
				return err
			}
			ks = append(ks, strings.TrimSpace(string(k)))
		}
	} else if errors.Is(err, secrets.ErrNoUnsealKeys) {
		return fmt.Errorf("OpenBAO on %s is sealed and Foundry keeps no unseal keys for it; run the command on a terminal to type them", host)
	} else if err != nil {
		return err
	}
	st, err := bao.Unseal(ctx, ks)
	if err != nil {
		return fmt.Errorf("unseal OpenBAO on %s: %w", host, err)
	}
	if st.Sealed {
		return fmt.Errorf("OpenBAO on %s is still sealed after %d key(s) (%d of %d needed); give the right keys", host, len(ks), st.T, st.N)
	}
	return nil
}

// waitHealth polls until OpenBAO answers (it was just started).
func waitHealth(ctx context.Context, bao *secrets.BaoClient) (*secrets.Health, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := bao.Health(ctx)
		if err == nil || time.Now().After(deadline) {
			return h, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// hostAddresses maps host ids to the address each was added with.
func hostAddresses(ctx context.Context, cl *client.Client, hosts []string) (map[string]string, error) {
	list, err := cl.HostList(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range list.Hosts {
		if r.Address != "" {
			out[r.ID] = r.Address
		}
	}
	for _, h := range hosts {
		if out[h] == "" {
			return nil, fmt.Errorf("host %s has no known address to reach OpenBAO on; re-add it with foundry host add", h)
		}
	}
	return out, nil
}
