package helm

import (
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// Object is one rendered manifest: its identity and its parsed body.
type Object struct {
	Kind, Namespace, Name string
	Body                  map[string]any
	Text                  string
}

// ID is kind/namespace/name, stable across renders, for diffs and errors.
func (o Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// Objects parses a release manifest (many YAML documents); documents
// without a namespace get defaultNS when namespaced is unknown, which is
// right for the workload kinds this package looks at.
func Objects(manifest, defaultNS string) ([]Object, error) {
	var out []Object
	for _, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var body map[string]any
		if err := yaml.Unmarshal([]byte(doc), &body); err != nil {
			return nil, fmt.Errorf("parse manifest: %w", err)
		}
		if body == nil {
			continue
		}
		meta, _ := body["metadata"].(map[string]any)
		o := Object{Body: body, Text: doc}
		o.Kind, _ = body["kind"].(string)
		o.Name, _ = meta["name"].(string)
		o.Namespace, _ = meta["namespace"].(string)
		if o.Namespace == "" && !clusterScoped(o.Kind) {
			o.Namespace = defaultNS
		}
		out = append(out, o)
	}
	return out, nil
}

// WorkloadsOf is Workloads(Objects(manifest)) without parsing the
// documents that cannot be workloads: CRDs make up most of the bytes of
// contour's, cert-manager's and argocd's manifests, and parsing them was
// most of a re-run's time (about 1 s each on 2 loaded cores).
func WorkloadsOf(manifest, defaultNS string) ([]Workload, error) {
	var docs []string
	for _, doc := range releaseutil.SplitManifests(manifest) {
		switch docKind(doc) {
		case "Deployment", "StatefulSet", "DaemonSet", "Job", "":
			docs = append(docs, doc)
		}
	}
	objs, err := Objects(strings.Join(docs, "\n---\n"), defaultNS)
	if err != nil {
		return nil, err
	}
	return Workloads(objs), nil
}

// docKind is a document's top-level kind, read from its "kind:" line;
// "" when there is none that plain (the caller then parses the document).
func docKind(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		if rest, ok := strings.CutPrefix(line, "kind:"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"'`)
		}
	}
	return ""
}

func clusterScoped(kind string) bool {
	switch kind {
	case "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
		"PriorityClass", "IngressClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
		"APIService", "PersistentVolume", "CSIDriver", "ClusterIssuer", "ValidatingAdmissionPolicy",
		"ValidatingAdmissionPolicyBinding":
		return true
	}
	return false
}

// ReleaseText is a release's manifest followed by its hooks' manifests.
func ReleaseText(rel *release.Release) string {
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "\n---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String()
}

// Images lists, sorted and once each, the container images the manifest
// runs (containers, init and ephemeral containers of any pod template).
func Images(objs []Object) []string {
	seen := map[string]bool{}
	for _, o := range objs {
		collectImages(o.Body, seen)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func collectImages(v any, seen map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if k == "containers" || k == "initContainers" || k == "ephemeralContainers" {
				if list, ok := x.([]any); ok {
					for _, c := range list {
						if cm, ok := c.(map[string]any); ok {
							if img, ok := cm["image"].(string); ok && img != "" {
								seen[img] = true
							}
						}
					}
				}
			}
			collectImages(x, seen)
		}
	case []any:
		for _, x := range t {
			collectImages(x, seen)
		}
	}
}
