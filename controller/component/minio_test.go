package component

import (
	"testing"

	"github.com/foundry-fleet/foundry/controller/config"
)

// TestMinIODesiredOnlyWithoutTrueNASS3: deploy auto (or unset) installs
// MinIO only while TrueNAS offers no S3; true and false are obeyed.
func TestMinIODesiredOnlyWithoutTrueNASS3(t *testing.T) {
	m, err := Find(Catalog(), "minio")
	if err != nil {
		t.Fatal(err)
	}
	s3 := &config.Storage{TrueNAS: &config.TrueNAS{APIURL: "https://nas", S3Endpoint: "https://nas:9000"}}
	noS3 := &config.Storage{TrueNAS: &config.TrueNAS{APIURL: "https://nas"}}
	for _, tc := range []struct {
		deploy  string
		storage *config.Storage
		want    bool
	}{
		{"auto", nil, true},
		{"", nil, true},
		{"auto", noS3, true},
		{"auto", s3, false},
		{"", s3, false},
		{"true", s3, true},
		{"false", nil, false},
	} {
		cfg := &config.Config{Components: config.Components{MinIO: &config.MinIO{Deploy: tc.deploy, Version: "5.4.0"}}, Storage: tc.storage}
		d, ok := m.Desired(cfg)
		if ok != tc.want {
			t.Errorf("deploy=%q storage=%v: desired=%v, want %v", tc.deploy, tc.storage != nil, ok, tc.want)
		}
		if ok && d.Version != "5.4.0" {
			t.Errorf("version %q", d.Version)
		}
	}
	if _, ok := m.Desired(&config.Config{}); ok {
		t.Error("minio not configured: desired")
	}
}
