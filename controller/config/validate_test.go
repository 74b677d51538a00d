package config

import (
	"strings"
	"testing"
)

// seedExample is the seed's stack.yaml, completed where the seed's own
// component sections say more (k3s ha needs a vip and three control
// planes).
const seedExample = `# ~/.foundry/stack.yaml
version: "1.0"
cluster:
  name: production
  domain: example.com
  nodes:
    - hostname: node1.example.com
      role: control-plane
    - hostname: node2.example.com
      role: control-plane
    - hostname: node3.example.com
      role: control-plane
    - hostname: node4.example.com
      role: worker
      labels:
        topology.kubernetes.io/zone: rack-2

components:
  openbao:
    version: "2.1.0"  # Pin version, or omit for latest
    hosts:
      - openbao.example.com  # Runs on VM, not k8s

  k3s:
    version: "v1.28.5+k3s1"
    ha: true
    vip: 192.168.1.100
    disable:
      - traefik

  zot:
    version: "2.0.0"
    storage:
      backend: truenas
      path: ${secret:foundry/zot:storage_path}
      size: 500Gi
    auth: openbao

  grafana:
    # version omitted - use latest
    admin_password: ${secret:foundry/grafana:admin_password}
    plugins:
      - grafana-piechart-panel

  argocd:

observability:
  prometheus:
    retention: 30d
  loki:
    retention: 90d

storage:
  truenas:
    api_url: https://truenas.example.com
    api_key: ${secret:foundry/truenas:api_key}

foundry:
  controller:
    urls: [tls://ctl1.example.com:4222, tls://ctl2.example.com:4222]
    ca_file: ~/.foundry/ca.pem
  ssh_keys: openbao
  openbao:
    address: https://openbao.example.com:8200
`

// The seed's example leaves the registry's hosts out: valid, but Foundry
// cannot install it, which validate says as its one warning.
func TestValidateSeedExampleIsClean(t *testing.T) {
	p, ps := loadProblems(t, seedExample, 0o600)
	if len(ps) != 1 {
		t.Fatalf("%s: problems:\n%s", p, ps)
	}
	assertProblems(t, p, ps, w("31:3", "zot has no hosts", "components.zot.hosts"))
}

func TestValidateClusterProblems(t *testing.T) {
	text := `version: "2.0"
cluster:
  name: Prod_1
  domain: example.123
  nodes:
    - hostname: node1.example.com
      address: 10.0.0.1
      role: control-plane
    - hostname: NODE1.example.com
      address: 10.0.0.1
      role: master
    - hostname: bad_host
      address: 10.0.0.300
      role: worker
    - hostname: 10.0.0.5
    - role: worker
      labels:
        "bad key!": x
        tier: "has space"
`
	p, ps := loadProblems(t, text, 0o600)
	assertProblems(t, p, ps,
		e("1:10", `version "2.0" is not supported`, `set version: "1.0"`),
		e("3:9", `cluster.name "Prod_1"`, "lower-case", `such as "production"`),
		e("4:11", `cluster.domain "example.123" ends in an all-numeric label`, "such as example.com"),
		e("9:17", `host "NODE1.example.com" is listed twice (also cluster.nodes[0], line 6)`, "keep one entry per host"),
		e("10:16", "address 10.0.0.1 is used twice", "its own address"),
		e("11:13", `cluster.nodes[1].role "master" is not a role`, "use control-plane or worker"),
		e("12:17", `"bad_host" holds "_"`, "RFC 1123"),
		e("13:16", `"10.0.0.300" is not an IP address`, "192.168.1.10"),
		e("15:17", `"10.0.0.5" is an IP address, not a name`, "put an IP address in address"),
		e("15:7", "cluster.nodes[3].role is missing", "role: control-plane or role: worker"),
		e("16:7", "cluster.nodes[4].hostname is missing", "add hostname:"),
		e("18:9", `label key "bad key!"`, "rename the label"),
		e("19:15", `value "has space"`, "change the value"),
	)
	// Validate reports everything in one pass, not just the first.
	if n := len(ps.Errors()); n < 13 {
		t.Fatalf("got %d errors, want all 13:\n%s", n, ps)
	}
}

func TestValidateComponentProblems(t *testing.T) {
	text := `version: "1.0"
cluster:
  name: prod
  domain: example.com
  nodes:
    - hostname: node1.example.com
      address: 192.168.1.10
      role: worker
components:
  k3s:
    version: latest
    ha: true
    vip: 192.168.1.10
    disable: [traefik, nginx]
  zot:
    version: "2.0.0"
    flavor: harbor
    storage:
      backend: truenas
      size: lots
  grafana:
    version: "v11.0.0-beta 1"
  velero:
    schedule: "every day"
  external-dns:
    domain_filters: [example.com]
  cert-manager:
    issuer: letsencrypt
`
	p, ps := loadProblems(t, text, 0o600)
	assertProblems(t, p, ps,
		e("6:5", "k3s is configured but no node has role control-plane", "set role: control-plane"),
		e("10:3", "k3s needs openbao, which is not configured", "add openbao under components (or remove k3s)"),
		e("11:14", `components.k3s.version "latest"`, "omit version"),
		w("12:9", "embedded etcd needs 3 or more", "role control-plane"),
		e("13:10", "k3s vip 192.168.1.10 is also the address of cluster.nodes[0]", "no host uses"),
		e("14:24", `k3s cannot disable "nginx"`, "use traefik, servicelb"),
		e("17:13", `registry flavor "harbor" is not supported`, "zot (the default) or distribution"),
		e("19:16", "storage backend truenas needs storage.truenas", "add storage.truenas"),
		e("20:13", `components.zot.storage.size "lots"`, "500Gi"),
		e("21:3", "grafana needs prometheus, which is not configured", "add prometheus under components"),
		e("22:14", `"v11.0.0-beta 1" is not a version`, "pin a release"),
		e("23:3", "velero needs minio or storage.truenas, and none of them is configured", "add one of them"),
		e("24:15", `velero schedule "every day" is not a cron expression`, "@daily"),
		e("25:3", "components.external-dns.provider is missing", "cloudflare"),
		e("27:3", "cert-manager issuer letsencrypt needs an email", "add email:"),
	)
}

func TestValidateDependencyCycleInInjectedTable(t *testing.T) {
	text := minimal + `components:
  openbao: {hosts: [openbao.example.com]}
  k3s: {}
`
	p := writeFile(t, "stack.yaml", text, 0o600)
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	cyclic := Dependencies{
		"k3s":     {{"openbao"}},
		"openbao": {{"zot"}},
		"zot":     {{"k3s"}},
	}
	ps := f.ValidateWith(ValidateOptions{Dependencies: cyclic})
	assertProblems(t, p, ps, e("8:1", "dependency table has a cycle: k3s -> openbao -> zot -> k3s", "bug in Foundry"))
	// The shipped table has no cycle.
	if ps := f.Validate(); len(ps) != 0 {
		t.Fatalf("default table: %s", ps)
	}
}

func TestValidateSecretReferences(t *testing.T) {
	text := minimal + `storage:
  truenas:
    api_url: https://truenas.example.com
    api_key: ${secret:foundry/truenas}
foundry:
  openbao:
    address: "https://${secret:a:b"
`
	p, ps := loadProblems(t, text, 0o600)
	assertProblems(t, p, ps,
		e("11:14", `storage.truenas.api_key holds a malformed secret reference "${secret:foundry/truenas}": missing ":key"`, "write it as ${secret:path/to/secret:key}"),
		e("14:14", "missing closing '}'", "${secret:path/to/secret:key}"),
	)
}

const inlineSecretConfig = minimal + `components:
  openbao: {hosts: [openbao.example.com]}
  k3s: {}
  prometheus: {}
  grafana:
    admin_password: hunter2
storage:
  truenas:
    api_url: https://root:pa55@truenas.example.com
    api_key: ${secret:foundry/truenas:api_key}
`

func TestValidateWarnsAboutInlineSecretsInReadableFile(t *testing.T) {
	p, ps := loadProblems(t, inlineSecretConfig, 0o644)
	if len(ps.Errors()) != 0 {
		t.Fatalf("errors: %s", ps.Errors())
	}
	assertProblems(t, p, ps,
		w("13:21", "components.grafana.admin_password looks like an inline secret", "readable by group or others (mode 0644)",
			"foundry secret set foundry/grafana --key admin_password", "${secret:foundry/grafana:admin_password}", "chmod 600"),
		w("16:14", "storage.truenas.api_url looks like an inline secret"),
	)
	if len(ps.Warnings()) != 2 {
		t.Fatalf("want exactly 2 warnings (the reference is fine):\n%s", ps.Warnings())
	}
	for _, pr := range ps {
		if strings.Contains(pr.String(), "hunter2") || strings.Contains(pr.String(), "pa55") {
			t.Fatalf("a problem leaks the secret: %s", pr)
		}
	}
}

func TestValidateDoesNotWarnForPrivateFile(t *testing.T) {
	_, ps := loadProblems(t, inlineSecretConfig, 0o600)
	if len(ps) != 0 {
		t.Fatalf("0600 file: %s", ps)
	}
}

func TestValidateObservabilityAndFoundrySections(t *testing.T) {
	text := minimal + `components:
  openbao: {}
  k3s: {}
  prometheus:
    retention: 15d
observability:
  prometheus:
    retention: 30d
  loki:
    retention: forever
foundry:
  controller:
    urls: [http://ctl:4222, tls://ctl:4222, tls://ctl:4222]
  ssh_keys: vault
  openbao:
    address: http://openbao.example.com:8200
    mount: /secret/
storage:
  truenas:
    api_url: ftp://nas
`
	p, ps := loadProblems(t, text, 0o600)
	assertProblems(t, p, ps,
		w("9:3", "openbao has no hosts"),
		e("15:16", "prometheus retention is set here and in components.prometheus (line 12)", "keep one"),
		e("17:16", `observability.loki.retention "forever"`, "30d"),
		e("20:12", `controller URL "http://ctl:4222" is not a NATS URL`, "tls://"),
		e("20:45", `controller URL "tls://ctl:4222" is listed twice`),
		e("21:13", `ssh_keys "vault" is not supported`, "use openbao"),
		w("23:14", "uses http", "use https"),
		e("24:12", `foundry.openbao.mount "/secret/"`),
		e("27:14", `storage.truenas.api_url "ftp://nas" is not an http(s) URL`),
		e("26:3", "storage.truenas.api_key is missing", "foundry secret set foundry/truenas --key api_key"),
	)
}

func TestValidateSSHKeysOpenBAONeedsOpenBAO(t *testing.T) {
	p, ps := loadProblems(t, minimal+"foundry:\n  ssh_keys: openbao\n", 0o600)
	assertProblems(t, p, ps, e("9:13", "ssh_keys is openbao but OpenBAO is not configured", "ssh_keys: file"))
}

func TestLoadValidSplitsErrorsAndWarnings(t *testing.T) {
	p := writeFile(t, "s.yaml", inlineSecretConfig, 0o644)
	_, warns, err := LoadValid(p)
	if err != nil || len(warns) != 2 {
		t.Fatalf("err %v warnings %v", err, warns)
	}
	p = writeFile(t, "s.yaml", strings.Replace(minimal, `"1.0"`, `"9"`, 1), 0o600)
	if _, _, err := LoadValid(p); err == nil || !strings.Contains(err.Error(), p+":1:10: ") {
		t.Fatalf("err = %v", err)
	}
}
