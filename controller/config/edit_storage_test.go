package config

import (
	"os"
	"strings"
	"testing"
)

func TestSetTrueNASAddsTheSectionAndKeepsTheRest(t *testing.T) {
	p := writeFile(t, "stack.yaml", "# my stack\n"+minimal+"components:\n  openbao: {} # GitOps later\n", 0o600)
	want := TrueNAS{APIURL: "https://nas.example.com", APIKey: "${secret:foundry/truenas:api_key}", CAFile: "/etc/nas-ca.pem", Dataset: "tank/foundry"}
	e, err := SetTrueNAS(p, want)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Changed || e.Replaced {
		t.Fatalf("edit = changed %v replaced %v, want a new section", e.Changed, e.Replaced)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if errs := f.Validate().Errors(); len(errs) > 0 {
		t.Fatalf("edited config invalid: %v", errs)
	}
	if got := *f.Config.Storage.TrueNAS; got != want {
		t.Fatalf("storage.truenas = %+v", got)
	}
	text, _ := os.ReadFile(p)
	for _, keep := range []string{"# my stack", "# GitOps later", "node1.example.com"} {
		if !strings.Contains(string(text), keep) {
			t.Errorf("lost %q:\n%s", keep, text)
		}
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o", st.Mode().Perm())
	}
}

func TestSetTrueNASTwiceIsUnchanged(t *testing.T) {
	p := writeFile(t, "stack.yaml", minimal, 0o600)
	tn := TrueNAS{APIURL: "https://nas.example.com", APIKey: "${secret:foundry/truenas:api_key}"}
	if _, err := SetTrueNAS(p, tn); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	e, err := SetTrueNAS(p, tn)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p)
	if e.Changed || string(before) != string(after) {
		t.Fatalf("second run changed the file (changed=%v)", e.Changed)
	}
	tn.APIURL = "https://nas2.example.com"
	if e, err = SetTrueNAS(p, tn); err != nil || !e.Replaced {
		t.Fatalf("replace: %+v %v", e, err)
	}
}

func TestSetTrueNASRefusesAnInvalidSection(t *testing.T) {
	p := writeFile(t, "stack.yaml", minimal, 0o600)
	before, _ := os.ReadFile(p)
	_, err := SetTrueNAS(p, TrueNAS{APIURL: "nas.example.com", APIKey: "${secret:foundry/truenas:api_key}"})
	if err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Fatalf("err = %v", err)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Fatal("a refused edit changed the file")
	}
}

func TestTrueNASDatasetMustBeADatasetName(t *testing.T) {
	_, ps := loadProblems(t, minimal+"storage:\n  truenas:\n    api_url: https://nas\n    api_key: ${secret:foundry/truenas:api_key}\n    dataset: /tank/\n", 0o600)
	if !strings.Contains(ps.Error(), "storage.truenas.dataset") {
		t.Fatalf("problems: %v", ps)
	}
}
