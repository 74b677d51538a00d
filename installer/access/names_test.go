package access

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParsePermissions(t *testing.T) {
	cases := []struct {
		in      []string
		want    []Permission
		wantErr string
	}{
		{[]string{"get,list:pods,deployments"}, []Permission{{Verbs: []string{"get", "list"}, Resources: []string{"pods", "deployments"}}}, ""},
		{[]string{"get:pods;create,delete:deployments.apps"}, []Permission{
			{Verbs: []string{"get"}, Resources: []string{"pods"}},
			{Verbs: []string{"create", "delete"}, Resources: []string{"deployments.apps"}}}, ""},
		{[]string{"get:pods", "watch:services"}, []Permission{
			{Verbs: []string{"get"}, Resources: []string{"pods"}},
			{Verbs: []string{"watch"}, Resources: []string{"services"}}}, ""},
		{[]string{"*:*"}, []Permission{{Verbs: []string{"*"}, Resources: []string{"*"}}}, ""},
		{[]string{"get:pods/log"}, []Permission{{Verbs: []string{"get"}, Resources: []string{"pods/log"}}}, ""},
		{nil, nil, "no permissions given"},
		{[]string{"get,list"}, nil, "no ':' between verbs and resources"},
		{[]string{"fly:pods"}, nil, `unknown verb "fly"`},
		{[]string{"get,,list:pods"}, nil, "an empty verb"},
		{[]string{"get,get:pods"}, nil, `verb "get" twice`},
		{[]string{"get:"}, nil, "an empty resource"},
		{[]string{"get:Pods"}, nil, `resource "Pods" is not a lowercase resource name`},
		{[]string{"get:pods,pods"}, nil, `resource "pods" twice`},
		{[]string{"get:pods:x"}, nil, `resource "pods:x"`},
		{[]string{"get:pods;"}, nil, "no ':'"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.in, "|"), func(t *testing.T) {
			got, err := ParsePermissions(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error is more than one line: %q", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestValidNamesAndRoles(t *testing.T) {
	for _, n := range []string{"alice", "a", "team-a-bot", "x9"} {
		if err := ValidName("user", n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	for _, n := range []string{"", "Alice", "9a", "a_b", "a-", "system:admin", strings.Repeat("a", 41)} {
		if err := ValidName("user", n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
	for _, r := range []string{"cluster-admin", "admin", "edit", "view"} {
		if err := ValidRole(r); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	if err := ValidRole("root"); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Errorf("root: %v", err)
	}
}

func TestUserPolicyCoversOnlyTheUsersPaths(t *testing.T) {
	p := UserPolicy("secret", "alice")
	for _, want := range []string{`path "secret/data/users/alice/*"`, `path "secret/metadata/users/alice/*"`} {
		if !strings.Contains(p, want) {
			t.Errorf("policy lacks %s:\n%s", want, p)
		}
	}
	if strings.Count(p, "path ") != 2 {
		t.Errorf("policy has other paths:\n%s", p)
	}
}

func TestResourceGroupFromDiscovery(t *testing.T) {
	served := map[string][]string{
		"pods":        {""},
		"deployments": {"apps"},
		"events":      {"", "events.k8s.io"},
		"widgets":     {"a.example", "b.example"},
	}
	cases := []struct {
		in, name, group, wantErr string
	}{
		{"pods", "pods", "", ""},
		{"pods/log", "pods/log", "", ""},
		{"deployments", "deployments", "apps", ""},
		{"deployments.apps", "deployments", "apps", ""},
		{"events", "events", "", ""},
		{"events.events.k8s.io", "events", "events.k8s.io", ""},
		{"*", "*", "*", ""},
		{"widgets", "", "", "served by several API groups"},
		{"widgets.b.example", "widgets", "b.example", ""},
		{"deployments.extensions", "", "", "no resource deployments in API group extensions"},
		{"gadgets", "", "", `no resource "gadgets"`},
	}
	for _, tc := range cases {
		name, group, err := resourceGroup(tc.in, served)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: got %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || name != tc.name || group != tc.group {
			t.Errorf("%s: got %q %q %v, want %q %q", tc.in, name, group, err, tc.name, tc.group)
		}
	}
}

func TestOneLineKeepsTheChain(t *testing.T) {
	base := errors.New("Error making API request.\n\nURL: PUT http://x/v1/sys/auth/userpass\nCode: 400. Errors:\n\n* path is already in use")
	err := fmt.Errorf("create user alice: %w", OneLine(base))
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "Code: 400. Errors: * path is already in use") {
		t.Fatalf("%q", err)
	}
	if !errors.Is(err, base) {
		t.Fatal("the chain was lost")
	}
	if OneLine(nil) != nil {
		t.Fatal("nil became an error")
	}
}
