package openbao

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Config is what the double takes from a `bao server -config` file. It
// reads a small HCL subset (see ParseConfig), enough for the file Foundry
// installs; anything else is an error naming its line, so a config that
// relies on something the double does not do fails at start, not later.
type Config struct {
	UI           bool   // accepted and ignored: the double has no UI
	DisableMlock bool   // accepted and ignored: the double never locks memory
	Address      string // listener "tcp" address; 127.0.0.1:8200 if unset, as in OpenBAO
	StorageType  string // "file" or "inmem"
	StoragePath  string // storage "file" path
	// TLSCertFile and TLSKeyFile are the listener's PEM certificate and
	// key; both set means the double serves https, as OpenBAO does.
	TLSCertFile string
	TLSKeyFile  string
}

// LoadConfig reads and parses the file at path.
func LoadConfig(path string) (Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := ParseConfig(string(src))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses this HCL subset, one statement a line:
//
//	ui = false                  # top level: ui, disable_mlock
//	disable_mlock = true
//	listener "tcp" {            # exactly one: address, and either tls_disable = true
//	  address     = "0.0.0.0:8200" # or tls_cert_file and tls_key_file (https)
//	  tls_disable = true
//	}
//	storage "file" {            # exactly one, "file" (path required) or "inmem"
//	  path = "/var/lib/foundry-openbao/data"
//	}
//
// Values are double-quoted strings or bare true, false, 0 and 1; comments
// start with # or //. Booleans may also be quoted ("true"), as OpenBAO
// accepts.
func ParseConfig(src string) (Config, error) {
	p := configParser{cfg: Config{Address: "127.0.0.1:8200"}, seen: map[string]int{}}
	for i, line := range strings.Split(src, "\n") {
		if err := p.line(i+1, line); err != nil {
			return Config{}, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	if p.block != "" {
		return Config{}, fmt.Errorf("line %d: %s block is not closed", p.blockLine, p.block)
	}
	if p.seen["listener"] == 0 {
		return Config{}, fmt.Errorf(`no listener "tcp" block`)
	}
	if p.seen["storage"] == 0 {
		return Config{}, fmt.Errorf(`no storage block`)
	}
	if p.cfg.StorageType == "file" && p.cfg.StoragePath == "" {
		return Config{}, fmt.Errorf(`line %d: storage "file" needs a path`, p.seen["storage"])
	}
	hasTLS := p.cfg.TLSCertFile != "" || p.cfg.TLSKeyFile != ""
	switch {
	case p.tlsDisabled && hasTLS:
		return Config{}, fmt.Errorf("line %d: tls_disable = true with tls_cert_file or tls_key_file; choose one", p.seen["listener"])
	case !p.tlsDisabled && (p.cfg.TLSCertFile == "" || p.cfg.TLSKeyFile == ""):
		return Config{}, fmt.Errorf("line %d: TLS is on (as in OpenBAO, unless tls_disable = true) but tls_cert_file and tls_key_file are not both set", p.seen["listener"])
	}
	return p.cfg, nil
}

type configParser struct {
	cfg         Config
	block       string         // "listener" or "storage" while inside one
	blockLine   int            // where that block opened
	seen        map[string]int // setting or block name -> line it first appeared on
	tlsDisabled bool
}

// token kinds: 'w' a bare word, 's' a quoted string, or the punctuation
// character itself.
type hclToken struct {
	kind byte
	text string
}

func (p *configParser) line(n int, line string) error {
	toks, err := lexHCL(line)
	if err != nil {
		return err
	}
	switch {
	case len(toks) == 0:
		return nil
	case len(toks) == 1 && toks[0].kind == '}':
		if p.block == "" {
			return fmt.Errorf("unexpected }")
		}
		p.block = ""
		return nil
	case len(toks) == 3 && toks[0].kind == 'w' && toks[1].kind == 's' && toks[2].kind == '{':
		return p.open(n, toks[0].text, toks[1].text)
	case len(toks) == 3 && toks[0].kind == 'w' && toks[1].kind == '=' && (toks[2].kind == 'w' || toks[2].kind == 's'):
		return p.set(n, toks[0].text, toks[2])
	}
	return fmt.Errorf(`unsupported syntax (the OpenBAO test double reads only key = value, name "label" { and })`)
}

func (p *configParser) open(n int, name, label string) error {
	if p.block != "" {
		return fmt.Errorf("nested block %s inside %s", name, p.block)
	}
	switch {
	case name == "listener" && label == "tcp":
	case name == "storage" && (label == "file" || label == "inmem"):
		p.cfg.StorageType = label
	default:
		return fmt.Errorf(`unsupported block %s %q (the OpenBAO test double knows listener "tcp", storage "file" and storage "inmem")`, name, label)
	}
	if first, dup := p.seen[name]; dup {
		return fmt.Errorf("second %s block (the first is on line %d); the OpenBAO test double takes one", name, first)
	}
	p.seen[name] = n
	p.block, p.blockLine = name, n
	return nil
}

func (p *configParser) set(n int, key string, v hclToken) error {
	scoped := key
	if p.block != "" {
		scoped = p.block + "." + key
	}
	if first, dup := p.seen[scoped]; dup {
		return fmt.Errorf("%s is set twice (first on line %d)", key, first)
	}
	p.seen[scoped] = n
	var err error
	switch scoped {
	case "ui":
		p.cfg.UI, err = hclBool(v)
	case "disable_mlock":
		p.cfg.DisableMlock, err = hclBool(v)
	case "listener.address":
		p.cfg.Address, err = hclString(v)
	case "listener.tls_disable":
		p.tlsDisabled, err = hclBool(v)
	case "listener.tls_cert_file":
		p.cfg.TLSCertFile, err = hclString(v)
	case "listener.tls_key_file":
		p.cfg.TLSKeyFile, err = hclString(v)
	case "storage.path":
		if p.cfg.StorageType != "file" {
			return fmt.Errorf(`path is only for storage "file"`)
		}
		p.cfg.StoragePath, err = hclString(v)
	default:
		where := "at the top level"
		if p.block != "" {
			where = "in the " + p.block + " block"
		}
		return fmt.Errorf("unsupported setting %s %s (the OpenBAO test double does not implement it)", key, where)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func hclBool(v hclToken) (bool, error) {
	b, err := strconv.ParseBool(v.text)
	if err != nil {
		return false, fmt.Errorf("want true or false, got %q", v.text)
	}
	return b, nil
}

func hclString(v hclToken) (string, error) {
	if v.kind != 's' {
		return "", fmt.Errorf("want a quoted string, got %s", v.text)
	}
	return v.text, nil
}

// lexHCL splits one line into tokens, dropping a trailing comment.
func lexHCL(line string) ([]hclToken, error) {
	var toks []hclToken
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#' || strings.HasPrefix(line[i:], "//"):
			return toks, nil
		case strings.HasPrefix(line[i:], "/*"):
			return nil, fmt.Errorf("/* */ comments are not supported by the OpenBAO test double")
		case c == '=' || c == '{' || c == '}':
			toks = append(toks, hclToken{kind: c, text: string(c)})
			i++
		case c == '"':
			end := i + 1
			for end < len(line) && line[end] != '"' {
				if line[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(line) {
				return nil, fmt.Errorf("unterminated string")
			}
			s, err := strconv.Unquote(line[i : end+1])
			if err != nil {
				return nil, fmt.Errorf("bad string %s: %w", line[i:end+1], err)
			}
			if strings.Contains(s, "${") {
				return nil, fmt.Errorf("interpolation ${...} is not supported by the OpenBAO test double")
			}
			toks = append(toks, hclToken{kind: 's', text: s})
			i = end + 1
		case isWordByte(c):
			end := i
			for end < len(line) && isWordByte(line[end]) {
				end++
			}
			toks = append(toks, hclToken{kind: 'w', text: line[i:end]})
			i = end
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
