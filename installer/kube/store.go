package kube

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// Where the cluster's secrets live in OpenBAO (KV v2 paths and keys). The
// stack has one cluster, so the paths do not carry its name.
const (
	KubeconfigPath = "foundry/k3s/kubeconfig"
	KubeconfigKey  = "kubeconfig"
	TokenPath      = "foundry/k3s/token"
	TokenKey       = "token"
)

// File names under <home>/clusters/<name>/ when OpenBAO is not configured.
const (
	kubeconfigFile = "kubeconfig"
	tokenFile      = "token"
)

// KV is the part of an OpenBAO client the store needs; *secrets.BaoClient
// has it. A missing secret must be reported as secrets.ErrNotFound.
type KV interface {
	KVGet(ctx context.Context, path string) (*secrets.KVSecret, error)
	SetKey(ctx context.Context, path, key, value string) (int, error)
}

// Store keeps a cluster's admin kubeconfig and join token where the
// operator's other secrets live: in OpenBAO when a client is configured,
// otherwise in 0600 files under <home>/clusters/<name>/, so that neither
// ever sits in the stack config or a world-readable place.
type Store struct {
	home string
	bao  KV
}

// NewStore returns a store under Foundry's home directory. With bao nil the
// secrets go to files.
func NewStore(home string, bao KV) *Store {
	return &Store{home: home, bao: bao}
}

// SaveKubeconfig stores the admin kubeconfig of cluster and says where, for
// the user (an OpenBAO path or a file name, never the content).
func (s *Store) SaveKubeconfig(ctx context.Context, cluster string, kubeconfig []byte) (string, error) {
	if len(kubeconfig) == 0 {
		return "", fmt.Errorf("store kubeconfig of cluster %s: it is empty; fetch it again from the first server", cluster)
	}
	return s.save(ctx, cluster, "kubeconfig", KubeconfigPath, KubeconfigKey, kubeconfigFile, kubeconfig)
}

// LoadKubeconfig returns the admin kubeconfig of cluster.
func (s *Store) LoadKubeconfig(ctx context.Context, cluster string) ([]byte, error) {
	return s.load(ctx, cluster, "kubeconfig", KubeconfigPath, KubeconfigKey, kubeconfigFile)
}

// SaveToken stores the cluster's join token and says where.
func (s *Store) SaveToken(ctx context.Context, cluster, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("store join token of cluster %s: it is empty; generate one first", cluster)
	}
	return s.save(ctx, cluster, "join token", TokenPath, TokenKey, tokenFile, []byte(token))
}

// LoadToken returns the cluster's join token.
func (s *Store) LoadToken(ctx context.Context, cluster string) (string, error) {
	b, err := s.load(ctx, cluster, "join token", TokenPath, TokenKey, tokenFile)
	return string(b), err
}

func (s *Store) save(ctx context.Context, cluster, what, path, key, file string, data []byte) (string, error) {
	if err := checkClusterName(cluster); err != nil {
		return "", err
	}
	if s.bao != nil {
		if _, err := s.bao.SetKey(ctx, path, key, string(data)); err != nil {
			return "", fmt.Errorf("store %s of cluster %s in OpenBAO at %s: %w", what, cluster, path, err)
		}
		return "OpenBAO " + path + ":" + key, nil
	}
	name := s.file(cluster, file)
	if err := secrets.WritePrivateFile(name, data); err != nil {
		return "", fmt.Errorf("store %s of cluster %s: %w", what, cluster, err)
	}
	return name, nil
}

func (s *Store) load(ctx context.Context, cluster, what, path, key, file string) ([]byte, error) {
	if err := checkClusterName(cluster); err != nil {
		return nil, err
	}
	if s.bao != nil {
		sec, err := s.bao.KVGet(ctx, path)
		if errors.Is(err, secrets.ErrNotFound) {
			return nil, fmt.Errorf("no %s for cluster %s in OpenBAO at %s: run foundry cluster init: %w", what, cluster, path, err)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s of cluster %s from OpenBAO: %w", what, cluster, err)
		}
		v, ok := sec.Data[key].(string)
		if !ok || v == "" {
			return nil, fmt.Errorf("no %s for cluster %s in OpenBAO at %s (key %q is missing or not text): run foundry cluster init", what, cluster, path, key)
		}
		return []byte(v), nil
	}
	name := s.file(cluster, file)
	b, err := secrets.ReadPrivateFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s for cluster %s (%s does not exist): run foundry cluster init: %w", what, cluster, name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of cluster %s: %w", what, cluster, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s of cluster %s is empty (%s): run foundry cluster init", what, cluster, name)
	}
	return b, nil
}

func (s *Store) file(cluster, name string) string {
	return filepath.Join(s.home, "clusters", cluster, name)
}

// checkClusterName keeps a cluster name usable as one directory name, so a
// name can never point the store outside <home>/clusters.
func checkClusterName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 63 {
		return fmt.Errorf("cluster name %q: use 1 to 63 letters, digits, '.', '_' or '-'", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("cluster name %q: use 1 to 63 letters, digits, '.', '_' or '-'", name)
		}
	}
	return nil
}
