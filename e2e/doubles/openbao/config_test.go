package openbao

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// foundryConfig is the file Foundry installs for OpenBAO.
const foundryConfig = `ui = false
disable_mlock = true
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}
storage "file" {
  path = "/var/lib/foundry-openbao/data"
}
`

func TestParseConfigReadsFoundrysFile(t *testing.T) {
	cfg, err := ParseConfig(foundryConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{UI: false, DisableMlock: true, Address: "0.0.0.0:8200", StorageType: "file", StoragePath: "/var/lib/foundry-openbao/data"}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestParseConfigVariants(t *testing.T) {
	cfg, err := ParseConfig(`# comment
// another
listener "tcp" {   # trailing comment
  tls_disable = "true"
}

storage "inmem" {
}
ui = 1
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{UI: true, Address: "127.0.0.1:8200", StorageType: "inmem"}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

// Foundry's OpenBAO config turns TLS on with a certificate in the config
// directory and the key handed over by systemd's LoadCredential=.
func TestParseConfigTLSListener(t *testing.T) {
	cfg, err := ParseConfig(`listener "tcp" {
  address       = "0.0.0.0:8200"
  tls_cert_file = "/etc/foundry/components/openbao/tls.crt"
  tls_key_file  = "/run/credentials/foundry-openbao.service/tls.key"
}
storage "file" {
  path = "/d"
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSCertFile != "/etc/foundry/components/openbao/tls.crt" || cfg.TLSKeyFile != "/run/credentials/foundry-openbao.service/tls.key" {
		t.Fatalf("%+v", cfg)
	}
}

func TestParseConfigErrorsNameTheLine(t *testing.T) {
	const listener = "listener \"tcp\" {\n  tls_disable = true\n}\n"
	const storage = "storage \"file\" {\n  path = \"/d\"\n}\n"
	cases := []struct{ src, want string }{
		{"ui = false\nlog_level = \"info\"\n" + listener + storage, "line 2: unsupported setting log_level at the top level"},
		{listener + storage + "seal \"transit\" {\n}\n", `line 7: unsupported block seal "transit"`},
		{"listener \"tcp\" {\n  tls_disable = true\n  tls_cert_file = \"/c\"\n}\n" + storage, "line 1: tls_disable = true with tls_cert_file or tls_key_file; choose one"},
		{"listener \"tcp\" {\n  tls_cert_file = \"/c\"\n}\n" + storage, "line 1: TLS is on (as in OpenBAO, unless tls_disable = true) but tls_cert_file and tls_key_file are not both set"},
		{"listener \"tcp\" {\n  address = \"x:1\"\n}\n" + storage, "line 1: TLS is on"},
		{listener + "storage \"raft\" {\n}\n", `line 4: unsupported block storage "raft"`},
		{listener + "storage \"file\" {\n}\n", `line 4: storage "file" needs a path`},
		{listener + storage + listener, "line 7: second listener block (the first is on line 1)"},
		{"ui = false\nui = true\n" + listener + storage, "line 2: ui is set twice (first on line 1)"},
		{"ui = maybe\n" + listener + storage, `line 1: ui: want true or false, got "maybe"`},
		{listener + "storage \"file\" {\n  path = d\n}\n", "line 5: path: want a quoted string, got d"},
		{listener + "storage \"file\" {\n  path = \"/d\n}\n", "line 5: unterminated string"},
		{listener + storage + "}\n", "line 7: unexpected }"},
		{listener + "storage \"file\" {\n  path = \"/d\"\n", "line 4: storage block is not closed"},
		{"listener \"tcp\" {\n  storage \"file\" {\n", "line 2: nested block storage inside listener"},
		{listener + storage + "listener \"tcp\" { address = \"x\" }\n", "line 7: unsupported syntax"},
		{listener + storage + "api_addr = \"http://${HOST}:8200\"\n", "line 7: interpolation"},
		{listener + storage + "ui = [false]\n", "line 7: unexpected character '['"},
		{storage, `no listener "tcp" block`},
		{listener, "no storage block"},
	}
	for _, c := range cases {
		_, err := ParseConfig(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config\n%s\ngot error %v, want one containing %q", c.src, err, c.want)
		}
	}
}

func TestLoadConfigNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.hcl")
	if err := os.WriteFile(path, []byte("bogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.HasPrefix(err.Error(), path+": line 1:") {
		t.Fatalf("got %v, want an error starting %q", err, path+": line 1:")
	}
	if _, err := LoadConfig(path + ".missing"); err == nil {
		t.Fatal("missing file: no error")
	}
}
