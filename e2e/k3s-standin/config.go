package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// Config is what k3s server/agent accept from flags, config.yaml and the
// environment. Keys of config.yaml are the flag names without dashes, as in
// k3s.
type Config struct {
	Mode                string // "server" or "agent"
	NodeName            string
	NodeIP              string
	TLSSANs             []string
	Disable             []string
	NodeLabels          []string
	NodeTaints          []string
	ClusterCIDR         string
	ServiceCIDR         string
	ClusterInit         bool
	Server              string
	Token               string
	TokenFile           string
	WriteKubeconfigMode string
	DataDir             string
	ConfigFile          string
	HTTPSPort           int
	BindAddress         string
	// Stand-in only (not k3s flags): where registries.yaml, the admin
	// kubeconfig and the agent's healthz go, so tests run as a plain user.
	RegistriesFile string
	KubeconfigOut  string
	HealthzAddress string
}

// configFlags registers every supported flag on fs, bound to c.
func configFlags(fs *pflag.FlagSet, c *Config) {
	fs.StringVar(&c.NodeName, "node-name", "", "node name (default: hostname)")
	fs.StringVar(&c.NodeIP, "node-ip", "", "node InternalIP (default: the address that routes to the server, else the first global IPv4)")
	fs.StringSliceVar(&c.TLSSANs, "tls-san", nil, "extra SANs on the API serving certificate")
	fs.StringSliceVar(&c.Disable, "disable", nil, "k3s packaged components to disable (recorded only: the stand-in ships none)")
	fs.StringArrayVar(&c.NodeLabels, "node-label", nil, "node label k=v")
	fs.StringArrayVar(&c.NodeTaints, "node-taint", nil, "node taint k=v:Effect")
	fs.StringVar(&c.ClusterCIDR, "cluster-cidr", "10.42.0.0/16", "pod network CIDR")
	fs.StringVar(&c.ServiceCIDR, "service-cidr", "10.43.0.0/16", "service network CIDR")
	fs.BoolVar(&c.ClusterInit, "cluster-init", false, "first server of an HA cluster: etcd listens for peers on node-ip")
	fs.StringVar(&c.Server, "server", "", "URL of a server to join")
	fs.StringVar(&c.Token, "token", "", "shared secret to join")
	fs.StringVar(&c.TokenFile, "token-file", "", "file holding the token")
	fs.StringVar(&c.WriteKubeconfigMode, "write-kubeconfig-mode", "", "file mode of the admin kubeconfig (default 0600)")
	fs.StringVar(&c.DataDir, "data-dir", "/var/lib/rancher/k3s", "state directory")
	fs.StringVarP(&c.ConfigFile, "config", "c", "/etc/rancher/k3s/config.yaml", "config file")
	fs.IntVar(&c.HTTPSPort, "https-listen-port", 6443, "API server port")
	fs.StringVar(&c.BindAddress, "bind-address", "0.0.0.0", "API server bind address")
	fs.StringVar(&c.RegistriesFile, "standin-registries", "/etc/rancher/k3s/registries.yaml", "stand-in only: registries.yaml path")
	fs.StringVar(&c.KubeconfigOut, "standin-kubeconfig", "/etc/rancher/k3s/k3s.yaml", "stand-in only: where the admin kubeconfig is written")
	fs.StringVar(&c.HealthzAddress, "standin-healthz-address", "127.0.0.1:10248", "stand-in only: agent healthz listen address")
}

// loadConfig parses args, then fills every flag not given on the command
// line from config.yaml, then from K3S_* environment variables. CLI wins,
// as in k3s; unknown config.yaml keys are logged and ignored, as in k3s.
func loadConfig(mode string, args []string, log *slog.Logger) (*Config, error) {
	c := &Config{Mode: mode}
	fs := pflag.NewFlagSet("k3s "+mode, pflag.ContinueOnError)
	configFlags(fs, c)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("parse flags: %w", err)
	}
	if err := applyConfigFile(fs, c.ConfigFile, log); err != nil {
		return nil, err
	}
	envDefault(fs, "server", "K3S_URL")
	envDefault(fs, "token", "K3S_TOKEN")
	envDefault(fs, "token-file", "K3S_TOKEN_FILE")
	if c.Token == "" && c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token-file: %w", err)
		}
		c.Token = strings.TrimSpace(string(b))
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node-name not set and hostname unknown: %w", err)
		}
		c.NodeName = strings.ToLower(h)
	}
	if c.NodeIP == "" {
		ip, err := defaultNodeIP(c.Server)
		if err != nil {
			return nil, fmt.Errorf("node-ip not set: %w", err)
		}
		c.NodeIP = ip
	}
	if mode == "agent" && (c.Server == "" || c.Token == "") {
		return nil, errors.New("agent needs server (--server or K3S_URL) and token (--token, K3S_TOKEN or token-file)")
	}
	if c.Server != "" && c.Token == "" {
		return nil, errors.New("joining a server needs a token")
	}
	return c, nil
}

// envDefault sets flag name from env var when neither the CLI nor the
// config file set it.
func envDefault(fs *pflag.FlagSet, name, env string) {
	if v := os.Getenv(env); v != "" && !fs.Changed(name) {
		_ = fs.Set(name, v)
	}
}

// applyConfigFile reads a k3s config.yaml. A missing file at the default
// path is fine; a missing file named with --config is not.
func applyConfigFile(fs *pflag.FlagSet, path string, log *slog.Logger) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !fs.Changed("config") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	for key, v := range m {
		f := fs.Lookup(key)
		if f == nil || key == "config" {
			log.Warn("unknown key in config file, ignored", "file", path, "key", key)
			continue
		}
		if fs.Changed(key) {
			continue // CLI overrides the file
		}
		vals, err := configValues(v)
		if err != nil {
			return fmt.Errorf("config %s key %s: %w", path, key, err)
		}
		for _, s := range vals {
			if err := fs.Set(key, s); err != nil {
				return fmt.Errorf("config %s key %s: %w", path, key, err)
			}
		}
		f.Changed = true
	}
	return nil
}

// configValues turns one YAML value into the strings pflag.Set takes; a
// list gives one Set per element.
func configValues(v any) ([]string, error) {
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, err := scalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	default:
		s, err := scalar(v)
		return []string{s}, err
	}
}

func scalar(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("unsupported value %v (%T)", v, v)
}
