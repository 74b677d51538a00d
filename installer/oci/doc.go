// Package oci fills the stack's OCI registry with container images, so a
// site without internet can run the stack: images saved on a machine that
// has it (`crane pull --format=oci`, `docker save`) are read here and
// pushed with go-containerregistry under the names the registry mirror
// gives them (docker.io/grafana/grafana:13 becomes
// <registry>/grafana/grafana:13, as helm.MirrorRef and k3s's
// registries.yaml expect).
//
// Pushing is idempotent: an image whose digest the registry already holds
// under the target name is skipped. It runs where the operator's CLI runs,
// like installer/helm, and reaches only the registry's host.
package oci
