package engine

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func TestValidate(t *testing.T) {
	ok := func() *shadowdiffv1.ResponseDigest {
		return withHeaders(dg("k1", primary, "/users/1", 200, f{"a", tStr, sText, "x"}), "date", "d")
	}
	if err := Validate(ok()); err != nil {
		t.Fatalf("valid digest rejected: %v", err)
	}
	skipped := ok()
	skipped.Status, skipped.Skip = 0, shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT
	if err := Validate(skipped); err != nil {
		t.Errorf("skipped digest without status rejected: %v", err)
	}
	for _, tc := range []struct {
		field  string
		mutate func(d *shadowdiffv1.ResponseDigest)
	}{
		{"pairing_key", func(d *shadowdiffv1.ResponseDigest) { d.PairingKey = "" }},
		{"pairing_key", func(d *shadowdiffv1.ResponseDigest) { d.PairingKey = strings.Repeat("k", 300) }},
		{"pairing_key", func(d *shadowdiffv1.ResponseDigest) { d.PairingKey = "a\nb" }},
		{"role", func(d *shadowdiffv1.ResponseDigest) { d.Role = shadowdiffv1.Role_ROLE_UNSPECIFIED }},
		{"role", func(d *shadowdiffv1.ResponseDigest) { d.Role = 9 }},
		{"method", func(d *shadowdiffv1.ResponseDigest) { d.Endpoint.Method, d.Request.Method = "", "" }},
		{"method", func(d *shadowdiffv1.ResponseDigest) { d.Endpoint.Method = "GE T" }},
		{"path", func(d *shadowdiffv1.ResponseDigest) { d.Endpoint.Path = "users" }},
		{"path", func(d *shadowdiffv1.ResponseDigest) { d.Endpoint.Path, d.Request.Path = "", "" }},
		{"path", func(d *shadowdiffv1.ResponseDigest) { d.Endpoint.Path = "/a\x00b" }},
		{"status", func(d *shadowdiffv1.ResponseDigest) { d.Status = 0 }},
		{"status", func(d *shadowdiffv1.ResponseDigest) { d.Status = 600 }},
		{"status", func(d *shadowdiffv1.ResponseDigest) {
			d.Status, d.Skip = 700, shadowdiffv1.SkipReason_SKIP_REASON_NO_RESPONSE
		}},
		{"skip", func(d *shadowdiffv1.ResponseDigest) { d.Skip = 5 }},
		{"headers", func(d *shadowdiffv1.ResponseDigest) { d.Headers = append(d.Headers, d.Headers[0]) }},
		{"headers", func(d *shadowdiffv1.ResponseDigest) { d.Headers[0].Name = "" }},
		{"body.fields", func(d *shadowdiffv1.ResponseDigest) {
			for i := 0; i <= maxFields; i++ {
				d.Body.Fields = append(d.Body.Fields, &shadowdiffv1.FieldEntry{Path: strings.Repeat("x", i%7) + string(rune('a'+i%26))})
			}
		}},
		{"body.fields", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields = append(d.Body.Fields, d.Body.Fields[0]) }},
		{"body.fields", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[0].Type = 99 }},
		{"body.fields", func(d *shadowdiffv1.ResponseDigest) {
			d.Body.Fields[0].RawValue = proto.String(strings.Repeat("v", 2000))
		}},
		{"body.kind", func(d *shadowdiffv1.ResponseDigest) { d.Body.Kind = 42 }},
		{"start_unix_nanos", func(d *shadowdiffv1.ResponseDigest) { d.StartUnixNanos = -1 }},
	} {
		d := ok()
		tc.mutate(d)
		err := Validate(d)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || ve.Reason == "" {
			t.Errorf("want a %s error, got %v", tc.field, err)
		}
	}
	if err := Validate(nil); err == nil {
		t.Error("nil digest accepted")
	}
}

// TestValidateHeaderNames covers a name listed twice with the names in
// order (side by side) and out of order (anywhere before), and that the
// first bad header by position is the one reported.
func TestValidateHeaderNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string // part of the reason; "" for valid
	}{
		{[]string{"a", "b", "c"}, ""},
		{[]string{"c", "a", "b"}, ""},
		{[]string{"b", "c", "a", "d"}, ""},
		{[]string{"a", "b", "b", "c"}, `"b" listed twice`},
		{[]string{"a", "b", "a"}, `"a" listed twice`},
		{[]string{"c", "a", "c"}, `"c" listed twice`},
		{[]string{"b", "a", "c", "d", "a"}, `"a" listed twice`},
		{[]string{"a", "c", "b", "c"}, `"c" listed twice`},
		{[]string{"a", "a", ""}, `"a" listed twice`},
		{[]string{"b", "a", "", "a"}, "header 2 has no name"},
	} {
		d := dg("k1", primary, "/users/1", 200, f{"a", tStr, sText, "x"})
		for _, n := range tc.names {
			d = withHeaders(d, n, "v")
		}
		err := Validate(d)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.names, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want an error with %s", tc.names, err, tc.want)
		}
	}
}
