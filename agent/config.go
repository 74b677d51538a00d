package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/foundry-fleet/foundry/messages"
)

// DefaultConfigPath is where the installer writes the agent's config.
const DefaultConfigPath = "/etc/foundry/agent.yaml"

// maxConfigBytes bounds the config file; a real one is well under 4 KiB.
const maxConfigBytes = 64 << 10

// Config is /etc/foundry/agent.yaml. It holds no secret itself: the NKey
// seed lives in its own 0600 file and the CA certificate is public.
type Config struct {
	// ID is the host id, the token in this host's subjects.
	ID string `yaml:"id"`
	// URLs of the controllers; several for a NATS cluster.
	URLs []string `yaml:"controller_urls"`
	// CAFile is the controller CA to pin for TLS.
	CAFile string `yaml:"ca_file,omitempty"`
	// NKeyFile is the agent's NATS identity seed (0600).
	NKeyFile string `yaml:"nkey_file"`
	// TrustedKeys are the command-signing keys pinned at bootstrap.
	TrustedKeys []string `yaml:"trusted_keys"`
	// Heartbeat is the liveness interval; jitter is added around it.
	Heartbeat time.Duration `yaml:"heartbeat,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level,omitempty"`
	// Role and Labels describe the host for targeting (--where).
	Role   string            `yaml:"role,omitempty"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

// labelRe bounds roles and labels: they travel in every heartbeat.
var labelRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// ErrNoConfig lets callers tell "no config file" from "broken config".
var ErrNoConfig = errors.New("agent config not found")

// LoadConfig reads and validates a config file. Unknown keys are errors so
// a typo never silently falls back to a default.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("%w: %s does not exist; run foundry host add for this host or pass --config", ErrNoConfig, path)
	}
	if err != nil {
		return Config{}, fmt.Errorf("read agent config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("agent config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses and validates config bytes.
func ParseConfig(b []byte) (Config, error) {
	var cfg Config
	if len(b) > maxConfigBytes {
		return cfg, fmt.Errorf("config is %d bytes, more than %d", len(b), maxConfigBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("invalid YAML: %w", err)
	}
	return cfg, cfg.Validate()
}

// Validate checks every field and names the first problem with its fix.
func (c *Config) Validate() error {
	if err := messages.ValidHostID(c.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	if len(c.URLs) == 0 {
		return errors.New("controller_urls is empty; list at least one, e.g. tls://10.0.0.1:4222")
	}
	if c.NKeyFile == "" {
		return errors.New("nkey_file is empty; it must name the agent's NATS seed file")
	}
	if len(c.TrustedKeys) == 0 {
		return errors.New("trusted_keys is empty; without a pinned key no command can be accepted")
	}
	for _, k := range c.TrustedKeys {
		if _, err := messages.ParsePublicKey(k); err != nil {
			return fmt.Errorf("trusted_keys: %w", err)
		}
	}
	if c.Heartbeat != 0 && (c.Heartbeat < 100*time.Millisecond || c.Heartbeat > 10*time.Minute) {
		return fmt.Errorf("heartbeat %s is out of range (100ms to 10m)", c.Heartbeat)
	}
	if c.Role != "" && !labelRe.MatchString(c.Role) {
		return fmt.Errorf("role %q must be letters, digits, '-', '_' or '.'", c.Role)
	}
	if len(c.Labels) > 64 {
		return errors.New("labels: at most 64")
	}
	for k, v := range c.Labels {
		if !labelRe.MatchString(k) || (v != "" && !labelRe.MatchString(v)) {
			return fmt.Errorf("label %q=%q: keys and values must be letters, digits, '-', '_' or '.'", k, v)
		}
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level %q must be debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// RenderConfig is the exact file content the installer writes; a pure
// function so what lands on hosts is pinned by tests.
func RenderConfig(c Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("# Written by foundry; re-run `foundry host configure` instead of editing.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
