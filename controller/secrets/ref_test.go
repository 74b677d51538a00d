package secrets

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	cases := []struct {
		in      string
		want    Ref
		wantErr string // substring of the reason; "" means success
	}{
		{in: "${secret:database/prod:password}", want: Ref{"database/prod", "password"}},
		{in: "${secret:foundry/truenas:api_key}", want: Ref{"foundry/truenas", "api_key"}},
		{in: "${secret:certs/wildcard:tls.crt}", want: Ref{"certs/wildcard", "tls.crt"}},
		{in: "${secret:single:k}", want: Ref{"single", "k"}},
		{in: "${secret:a-b_c.d/e:F-1}", want: Ref{"a-b_c.d/e", "F-1"}},
		{in: "${secret:database/prod}", wantErr: `missing ":key"`},
		{in: "${secret:database/prod:}", wantErr: "key after ':' is empty"},
		{in: "${secret::password}", wantErr: "path is empty"},
		{in: "${secret:/abs:k}", wantErr: "must not start or end with '/'"},
		{in: "${secret:a/:k}", wantErr: "must not start or end with '/'"},
		{in: "${secret:a//b:k}", wantErr: "empty segment"},
		{in: "${secret:a/../b:k}", wantErr: "'.' or '..'"},
		{in: "${secret:a b:k}", wantErr: "may only hold"},
		{in: "${secret:a:b:c}", wantErr: "more than one ':'"},
		{in: "${secret:a:k", wantErr: "missing closing '}'"},
		{in: "${secret:a:${secret:b:c}}", wantErr: "before the next '${'"},
		{in: "${secret/a:k}", wantErr: "expected ':'"},
		{in: "${SECRET:a:k}", wantErr: "lower case"},
		{in: "${secrets:a:k}", wantErr: "expected ':'"},
		{in: "x${secret:a:k}", wantErr: "exactly one reference"},
		{in: "${secret:a:k}${secret:b:k}", wantErr: "exactly one reference"},
		{in: "plain", wantErr: "exactly one reference"},
		{in: "", wantErr: "exactly one reference"},
	}
	for _, c := range cases {
		got, err := ParseRef(c.in)
		if c.wantErr == "" {
			if err != nil || got != c.want {
				t.Errorf("ParseRef(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseRef(%q) = %+v; want error containing %q", c.in, got, c.wantErr)
			continue
		}
		if !errors.Is(err, ErrMalformedRef) || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("ParseRef(%q) error %q; want ErrMalformedRef containing %q", c.in, err, c.wantErr)
		}
		if !strings.Contains(err.Error(), "write it as ${secret:path/to/secret:key}") {
			t.Errorf("ParseRef(%q) error %q does not say how to fix it", c.in, err)
		}
	}
}

func TestFindRefsInText(t *testing.T) {
	s := "postgres://app:${secret:db/prod:password}@db:5432/${secret:db/prod:name}?x=${HOME}"
	ms, err := FindRefs(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("got %d matches, want 2", len(ms))
	}
	if ms[0].Ref != (Ref{"db/prod", "password"}) || s[ms[0].Start:ms[0].End] != "${secret:db/prod:password}" {
		t.Errorf("first match %+v", ms[0])
	}
	if ms[1].Ref != (Ref{"db/prod", "name"}) {
		t.Errorf("second match %+v", ms[1])
	}
	if ms, err := FindRefs("no refs, ${OTHER} and $secret"); err != nil || len(ms) != 0 {
		t.Errorf("plain text: %v %v", ms, err)
	}
	_, err = FindRefs("ok ${secret:a:b} then ${secret:broken}")
	var re *RefError
	if !errors.As(err, &re) {
		t.Fatalf("malformed second ref: %v, want *RefError", err)
	}
	if re.Offset != 22 {
		t.Fatalf("offset %d, want 22 (where the bad reference starts)", re.Offset)
	}
}

func TestExpandSubstitutesEveryReference(t *testing.T) {
	vals := map[Ref]string{{"db", "user"}: "app", {"db", "pass"}: "s3cret"}
	lookup := func(_ context.Context, r Ref) (string, error) {
		v, ok := vals[r]
		if !ok {
			return "", ErrNotFound
		}
		return v, nil
	}
	got, err := Expand(context.Background(), "${secret:db:user}:${secret:db:pass}@host", lookup)
	if err != nil || got != "app:s3cret@host" {
		t.Fatalf("Expand = %q, %v", got, err)
	}
	if _, err := Expand(context.Background(), "${secret:db:missing}", lookup); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if got, err := Expand(context.Background(), "literal", lookup); err != nil || got != "literal" {
		t.Fatalf("literal: %q %v", got, err)
	}
}

func TestParsePathKey(t *testing.T) {
	if r, err := ParsePathKey("foundry/truenas:api_key"); err != nil || r != (Ref{"foundry/truenas", "api_key"}) {
		t.Fatalf("got %+v %v", r, err)
	}
	for _, bad := range []string{"foundry/truenas", "a:", ":k", "a:b:c", "a b:k"} {
		if _, err := ParsePathKey(bad); !errors.Is(err, ErrMalformedRef) {
			t.Errorf("ParsePathKey(%q) = %v, want ErrMalformedRef", bad, err)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"${secret:database/prod:password}", "${secret:a:b}", "x ${secret:a/b:c} y ${secret:d:e}",
		"${secret:", "${secret:a:b", "${SECRET:a:b}", "${secret:a//b:c}", "$${secret:a:b}}", "${secret:a:${secret:b:c}}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := FindRefs(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedRef) {
				t.Fatalf("error %v does not wrap ErrMalformedRef", err)
			}
			return
		}
		for _, m := range ms {
			if s[m.Start:m.End] != m.Ref.String() {
				t.Fatalf("match text %q != rendered %q", s[m.Start:m.End], m.Ref.String())
			}
			back, err := ParseRef(m.Ref.String())
			if err != nil || back != m.Ref {
				t.Fatalf("round trip of %q: %+v %v", m.Ref.String(), back, err)
			}
			if pk, err := ParsePathKey(m.Ref.PathKey()); err != nil || pk != m.Ref {
				t.Fatalf("path:key round trip of %q: %+v %v", m.Ref.PathKey(), pk, err)
			}
		}
		if _, err := ParseRef(s); err == nil && len(ms) != 1 {
			t.Fatalf("ParseRef accepted %q but FindRefs found %d refs", s, len(ms))
		}
	})
}
