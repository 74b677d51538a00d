package config

import "testing"

func TestValidateVeleroBucketAndTrueNASS3(t *testing.T) {
	text := `version: "1.0"
cluster:
  name: prod
  domain: example.com
  nodes:
    - hostname: node1.example.com
      role: control-plane
components:
  openbao:
    hosts: [openbao.example.com]
  k3s:
  velero:
    backend: truenas
    bucket: Not_A_Bucket
    credentials: ${secret:foundry/velero:cloud}
storage:
  truenas:
    api_url: https://truenas.example.com
    api_key: ${secret:foundry/truenas:api_key}
`
	p, ps := loadProblems(t, text, 0o600)
	assertProblems(t, p, ps,
		e("13:14", "needs storage.truenas.s3_endpoint", "set s3_endpoint"),
		e("14:13", `velero bucket "Not_A_Bucket" is not an S3 bucket name`, "lowercase"),
	)

	bad := text + "    s3_endpoint: truenas.example.com/s3\n"
	p, ps = loadProblems(t, bad, 0o600)
	assertProblems(t, p, ps, e("20:18", "s3_endpoint", "is not an http(s) URL"))
}

func TestMinIOWanted(t *testing.T) {
	withS3 := &Storage{TrueNAS: &TrueNAS{APIURL: "https://t", S3Endpoint: "https://t:9000"}}
	noS3 := &Storage{TrueNAS: &TrueNAS{APIURL: "https://t"}}
	for _, tc := range []struct {
		deploy  string
		storage *Storage
		minio   bool
		want    bool
	}{
		{"", nil, false, false},
		{"", nil, true, true},
		{"auto", nil, true, true},
		{"auto", noS3, true, true},
		{"auto", withS3, true, false},
		{"", withS3, true, false},
		{"true", withS3, true, true},
		{"false", nil, true, false},
	} {
		c := &Config{Storage: tc.storage}
		if tc.minio {
			c.Components.MinIO = &MinIO{Deploy: tc.deploy}
		}
		if got := c.MinIOWanted(); got != tc.want {
			t.Errorf("deploy=%q storage=%v minio=%v: MinIOWanted=%v, want %v", tc.deploy, tc.storage, tc.minio, got, tc.want)
		}
	}
}
