package helmoci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// TestPushPullRealRegistry runs the CNCF distribution registry that the e2e
// hosts get (Debian's docker-registry, taken by registry-artifact.sh) on
// loopback and round-trips a chart through it with the Helm SDK.
func TestPushPullRealRegistry(t *testing.T) {
	bin := registryBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()

	hostPort := startRegistry(t, ctx, bin)

	const name, version = "foundry-e2e", "0.1.0"
	tgz, err := BuildChart(t.TempDir(), name, version)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}

	ref, pushDigest, err := Push(ctx, hostPort, tgz)
	if err != nil {
		t.Fatal(err)
	}
	if want := "oci://" + hostPort + "/charts/" + name + ":" + version; ref != want {
		t.Fatalf("Push ref = %q, want %q", ref, want)
	}
	if !strings.HasPrefix(pushDigest, "sha256:") {
		t.Fatalf("Push digest = %q, want sha256:...", pushDigest)
	}

	got, pullDigest, err := Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if pullDigest != pushDigest {
		t.Errorf("pulled manifest digest %s != pushed %s", pullDigest, pushDigest)
	}
	if !bytes.Equal(got, orig) {
		t.Errorf("pulled chart (%d bytes) differs from the pushed .tgz (%d bytes)", len(got), len(orig))
	}
	c, err := loader.LoadArchive(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("pulled bytes are not a chart: %v", err)
	}
	if c.Name() != name || c.Metadata.Version != version {
		t.Errorf("pulled chart %s-%s, want %s-%s", c.Name(), c.Metadata.Version, name, version)
	}
	if len(c.Templates) != 1 || c.Templates[0].Name != "templates/configmap.yaml" {
		t.Errorf("pulled chart templates = %v, want the one ConfigMap", c.Templates)
	}

	// The registry itself, not the client, agrees on what it stores.
	var catalog struct{ Repositories []string }
	getJSON(t, ctx, "http://"+hostPort+"/v2/_catalog", nil, &catalog)
	if !slices.Contains(catalog.Repositories, "charts/"+name) {
		t.Errorf("/v2/_catalog = %v, want charts/%s in it", catalog.Repositories, name)
	}
	h := getJSON(t, ctx, "http://"+hostPort+"/v2/charts/"+name+"/manifests/"+version,
		http.Header{"Accept": {"application/vnd.oci.image.manifest.v1+json"}}, nil)
	if d := h.Get("Docker-Content-Digest"); d != pushDigest {
		t.Errorf("registry's manifest digest %q != pushed %s", d, pushDigest)
	}
}

// TestTransportRefusesOtherHosts: the client may reach only the registry.
func TestTransportRefusesOtherHosts(t *testing.T) {
	tr := &scopedTransport{ctx: context.Background(), hostPort: "127.0.0.1:5000", base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Fatal("request to another host reached the network")
		return nil, nil
	})}
	req, _ := http.NewRequest(http.MethodGet, "http://example.invalid:5000/v2/", nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("RoundTrip to another host: err = %v, want a refusal", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// registryBinary returns the docker-registry executable from
// e2e/testbed/registry-artifact.sh (cached under /var/tmp/foundry-e2e), or
// skips when this machine cannot provide it.
func registryBinary(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: registry-artifact.sh writes the docker-registry artifact under /var/tmp/foundry-e2e like the rest of the e2e testbed")
	}
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("docker-registry binary unavailable: %s not found (not a Debian machine)", tool)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "testbed", "registry-artifact.sh")
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := fmt.Sprintf("docker-registry binary unavailable: %v\n%s", err, stderr.String())
		if os.Getenv("CI") != "" {
			t.Fatal(msg) // CI can reach the Debian archive: a failure here is a bug
		}
		t.Skip(msg)
	}
	return strings.TrimSpace(string(out))
}

// startRegistry runs `docker-registry serve` on a free loopback port with
// storage in a temp dir, waits until GET /v2/ answers 200 and stops it when
// the test ends. It returns host:port.
func startRegistry(t *testing.T, ctx context.Context, bin string) string {
	t.Helper()
	var lastErr error
	// A free port can be taken between our probe and the registry's bind:
	// try a few.
	for range 3 {
		hostPort, err := startRegistryOnce(t, ctx, bin)
		if err == nil {
			return hostPort
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	t.Fatal(lastErr)
	return ""
}

func startRegistryOnce(t *testing.T, ctx context.Context, bin string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	hostPort := l.Addr().String()
	l.Close()

	dir := t.TempDir()
	conf := filepath.Join(dir, "config.yml")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "storage"), hostPort)), 0o600)
	if err != nil {
		return "", err
	}

	logs := &syncBuffer{}
	cmd := exec.Command(bin, "serve", conf)
	cmd.Stdout, cmd.Stderr = logs, logs
	// REGISTRY_* variables override config.yml: keep the test's own config.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "REGISTRY_") })
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	ready := make(chan struct{})
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			req, _ := http.NewRequestWithContext(pctx, http.MethodGet, "http://"+hostPort+"/v2/", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					close(ready)
					return
				}
			}
			select {
			case <-tick.C:
			case <-pctx.Done():
				return
			}
		}
	}()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case <-ready:
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("docker-registry output:\n%s", logs.String())
			}
		})
		return hostPort, nil
	case err := <-exited:
		exited <- err // for stop
		return "", fmt.Errorf("docker-registry on %s exited before it was ready: %v\n%s", hostPort, err, logs.String())
	case <-deadline.C:
	case <-ctx.Done():
	}
	stop()
	return "", fmt.Errorf("docker-registry on %s: GET /v2/ not 200 within 10s\n%s", hostPort, logs.String())
}

// getJSON GETs url, fails the test unless it answers 200, decodes the body
// into v when v is not nil and returns the response headers.
func getJSON(t *testing.T, ctx context.Context, url string, h http.Header, v any) http.Header {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.Header
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
