package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/controller/client"
	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/installer/helm"
)

// chartOf is the Helm chart a component is installed from, "" for a
// component the agents install (its artifacts are binaries).
func chartOf(component string) string {
	c, err := comp.Find(comp.Catalog(), component)
	if err != nil || c.Placement != comp.Cluster {
		return ""
	}
	h, err := helm.Lookup(component)
	if err != nil {
		return ""
	}
	return h.Chart
}

// checkChart refuses, before anything is uploaded, a .tgz of a cluster
// component that is not the chart and version it is imported as, or that
// is stored under another name than installs look for. It returns the
// chart's name for a chart file, "" for any other file.
func checkChart(o *ImportOptions, f localFile) (string, error) {
	chart := chartOf(o.Component)
	if chart == "" || !strings.HasSuffix(f.name, ".tgz") {
		return "", nil
	}
	want := chart + "-" + o.Version + ".tgz"
	if f.name != want {
		return "", fmt.Errorf("%s is stored as %s, but installs look for %s; import it with --name %s", f.path, f.name, want, want)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", f.path, err)
	}
	if _, err := helm.LoadChart(data, chart, o.Version); err != nil {
		return "", fmt.Errorf("%s: %w", f.path, err)
	}
	return chart, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// pushChart puts an imported chart into the stack's registry. The chart
// is safe in the artifact store by now, so a registry that is absent or
// down is a note, not a failure: installs fall back to the store.
func pushChart(ctx context.Context, o *ImportOptions, cl *client.Client, f localFile, signed string) (ref, digest string) {
	if o.Registry == nil {
		return "", ""
	}
	note := func(format string, a ...any) { fmt.Fprintf(o.IO.ErrOut, format+"\n", a...) }
	reg, err := o.Registry(ctx, cl)
	if errors.Is(err, clicomp.ErrNoRegistry) {
		note("%s: kept in the artifact store only (%v)", f.name, err)
		return "", ""
	}
	if err != nil {
		note("%s: not pushed to the stack's registry: %v; installs take it from the artifact store", f.name, err)
		return "", ""
	}
	data, err := os.ReadFile(f.path)
	if err == nil && !strings.EqualFold(sha256Hex(data), signed) {
		err = fmt.Errorf("%s changed since it was imported", f.path)
	}
	if err == nil {
		ref, digest, err = helm.PushChart(ctx, reg, data, f.chart, o.Version)
	}
	if err != nil {
		note("%s: not pushed to the registry %s: %v; installs take it from the artifact store until you import it again with the registry up", f.name, reg.Host, err)
		return "", ""
	}
	note("%s: pushed to %s (%s)", f.name, ref, digest)
	return ref, digest
}
