package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

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
		// Request signatures join paths with \x1e and \x1f.
		{"body.fields", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[0].Path = "meta\x1etrace" }},
		{"body.fields", func(d *shadowdiffv1.ResponseDigest) { d.Body.Fields[0].Path = "y\x1fV" }},
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
		{[]string{"date", "X-Upper"}, `"X-Upper": name is not lower-case`},
		{[]string{"x trace"}, "not an HTTP token"},
		{[]string{"x:trace"}, "not an HTTP token"},
		{[]string{"x\u0085trace"}, "not an HTTP token"},
		{[]string{"\u00e9tag"}, "not an HTTP token"},
		{[]string{"x\ttrace"}, "not an HTTP token"},
		{[]string{"x-b3-traceid", "x_legacy", "~odd!#$%&'*+.^`|"}, ""},
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

// TestValidateRefusesInvalidUTF8 sets each string field of a digest, found
// by reflection so that a field added to the proto is covered, to bytes
// that are not UTF-8: every one is refused, naming a field. Stored, such a
// string could not be sent back to clients, and as a metric label it made
// Prometheus panic in the engine's loop (after a restart too, as the
// digest was pending).
func TestValidateRefusesInvalidUTF8(t *testing.T) {
	full := func() *shadowdiffv1.ResponseDigest {
		d := withHeaders(dg("k1", primary, "/users/1", 200, f{"a", tStr, sText, "x"}), "date", "d")
		d.Workload = &shadowdiffv1.Workload{Name: "n", Namespace: "ns", Version: "v1", Instance: "i", PluginName: "p"}
		d.Endpoint.RouteName, d.Endpoint.Authority = "r", "a"
		d.Body.ContentEncoding, d.Body.Error = "gzip", "e"
		d.Headers[0].RawValue = proto.String("v")
		d.Body.Fields[0].RawValue = proto.String("x")
		return d
	}
	if err := Validate(full()); err != nil {
		t.Fatalf("valid digest rejected: %v", err)
	}
	var paths [][]protoreflect.FieldDescriptor
	var walk func(m protoreflect.Message, at []protoreflect.FieldDescriptor)
	walk = func(m protoreflect.Message, at []protoreflect.FieldDescriptor) {
		fds := m.Descriptor().Fields()
		for i := range fds.Len() {
			fd := fds.Get(i)
			here := append(slices.Clone(at), fd)
			switch {
			case fd.Kind() == protoreflect.StringKind && !fd.IsList():
				paths = append(paths, here)
			case fd.Kind() == protoreflect.MessageKind && fd.IsList() && m.Get(fd).List().Len() > 0:
				walk(m.Get(fd).List().Get(0).Message(), here)
			case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && m.Has(fd):
				walk(m.Get(fd).Message(), here)
			}
		}
	}
	walk(full().ProtoReflect(), nil)
	if len(paths) < 19 {
		t.Fatalf("found %d string fields, want every one of the digest's", len(paths))
	}
	for _, path := range paths {
		d := full()
		m := d.ProtoReflect()
		for _, fd := range path[:len(path)-1] {
			if fd.IsList() {
				m = m.Get(fd).List().Get(0).Message()
			} else {
				m = m.Mutable(fd).Message()
			}
		}
		last := path[len(path)-1]
		m.Set(last, protoreflect.ValueOfString(m.Get(last).String()+"\xff"))
		// Methods must be HTTP tokens (ASCII), checked before.
		var ve *ValidationError
		if err := Validate(d); !errors.As(err, &ve) || (ve.Field != "method" && !strings.Contains(ve.Reason, "UTF-8")) {
			t.Errorf("%v set to invalid UTF-8: %v, want a validation error saying UTF-8", fieldPath(path), err)
		}
	}
}

func fieldPath(path []protoreflect.FieldDescriptor) string {
	var names []string
	for _, fd := range path {
		names = append(names, string(fd.Name()))
	}
	return strings.Join(names, ".")
}

// Rules whose strings are not UTF-8 are refused with InvalidArgument
// before the store, whose encoder refused them with Internal. (A gRPC
// client built on protobuf-go cannot send them, other clients can.)
func TestRulesRefuseInvalidUTF8(t *testing.T) {
	e := openEngine(t, t.TempDir(), newClock(), Options{})
	q, ctx := e.QueryServer(), context.Background()
	for _, r := range []*shadowdiffv1.NoiseRule{
		{PathPrefix: "body.\xff"}, {PathPrefix: "body.a", Endpoint: "GET /\xff"}, {PathPrefix: "body.a", Comment: "\xff"},
	} {
		_, err := q.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: r})
		wantCode(t, fmt.Sprintf("noise rule %v", r), err, codes.InvalidArgument)
	}
	for _, r := range []*shadowdiffv1.EndpointRule{
		{PathPattern: "/caf\xe9", Endpoint: "x"}, {PathPattern: "/a", Endpoint: "caf\xe9"},
	} {
		_, err := q.CreateEndpointRule(ctx, &shadowdiffv1.CreateEndpointRuleRequest{Rule: r})
		wantCode(t, fmt.Sprintf("endpoint rule %v", r), err, codes.InvalidArgument)
	}
}
