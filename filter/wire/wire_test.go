package wire

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
	pb "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func ptr(s string) *string { return &s }

func sample() *ResponseDigest {
	fields := make([]FieldEntry, 0, 40)
	for i := range 40 { // enough bytes to need a multi-byte length prefix
		fields = append(fields, FieldEntry{Path: "items[].f" + strings.Repeat("x", i), Type: TypeString,
			Shape: ShapeUUID, LengthBucket: 6, ValueHash: uint64(i) + 1, UnorderedHash: 99, Occurrences: 3, Elements: 0})
	}
	fields = append(fields, FieldEntry{Path: "tier", Type: TypeString, Shape: ShapeText, Raw: ptr("gold")},
		FieldEntry{Path: "", Type: TypeObject, Raw: ptr("")})
	return &ResponseDigest{
		PairingKey: "6f1c1f2e-1", Role: RoleCandidate,
		Workload: Workload{Name: "shop", Namespace: "demo", Version: "v2", Instance: "shop-v2-abc", PluginName: "demo.shadowdiff"},
		Endpoint: EndpointRef{Method: "GET", RouteName: "users", Path: "/users/7", Authority: "shop"},
		Request:  RequestFingerprint{Method: "GET", Path: "/users/7", QueryHash: 1 << 63, BodyHash: 5, BodySize: 12, BodyTruncated: true},
		Status:   200,
		Headers:  []HeaderDigest{{Name: "cache-control", ValueHash: 7, Shape: ShapeText, Raw: ptr("no-store")}, {Name: "etag", ValueHash: 8}},
		Body: &BodyDigest{ContentType: "application/json", ContentEncoding: "gzip", WireSize: 300, DecodedSize: 1200,
			Hash: 0xfeed, Kind: BodyJSON, Truncated: true, DecodeBudgetExceeded: true, Error: "x", Fields: fields, FieldsTruncated: true},
		UpstreamLatencyMicros: 1234, StartUnixNanos: 1764157312123456789, Shadow: true, Skip: SkipNoResponse, TrailersHash: 3,
	}
}

func toPB(d *ResponseDigest) *pb.ResponseDigest {
	out := &pb.ResponseDigest{
		PairingKey: d.PairingKey, Role: pb.Role(d.Role),
		Workload: &pb.Workload{Name: d.Workload.Name, Namespace: d.Workload.Namespace, Version: d.Workload.Version,
			Instance: d.Workload.Instance, PluginName: d.Workload.PluginName},
		Endpoint: &pb.EndpointRef{Method: d.Endpoint.Method, RouteName: d.Endpoint.RouteName, Path: d.Endpoint.Path, Authority: d.Endpoint.Authority},
		Request: &pb.RequestFingerprint{Method: d.Request.Method, Path: d.Request.Path, QueryHash: d.Request.QueryHash,
			BodyHash: d.Request.BodyHash, BodySize: d.Request.BodySize, BodyTruncated: d.Request.BodyTruncated},
		Status: d.Status, UpstreamLatencyMicros: d.UpstreamLatencyMicros, StartUnixNanos: d.StartUnixNanos,
		Shadow: d.Shadow, Skip: pb.SkipReason(d.Skip), TrailersHash: d.TrailersHash,
	}
	for _, h := range d.Headers {
		out.Headers = append(out.Headers, &pb.HeaderDigest{Name: h.Name, ValueHash: h.ValueHash, Shape: pb.ValueShape(h.Shape), RawValue: h.Raw})
	}
	if b := d.Body; b != nil {
		out.Body = &pb.BodyDigest{ContentType: b.ContentType, ContentEncoding: b.ContentEncoding, WireSize: b.WireSize,
			DecodedSize: b.DecodedSize, Hash: b.Hash, Kind: pb.BodyKind(b.Kind), Truncated: b.Truncated,
			DecodeBudgetExceeded: b.DecodeBudgetExceeded, Error: b.Error, FieldsTruncated: b.FieldsTruncated}
		for _, f := range b.Fields {
			out.Body.Fields = append(out.Body.Fields, &pb.FieldEntry{Path: f.Path, Type: pb.JsonType(f.Type), Shape: pb.ValueShape(f.Shape),
				LengthBucket: f.LengthBucket, ValueHash: f.ValueHash, UnorderedHash: f.UnorderedHash,
				Occurrences: f.Occurrences, Elements: f.Elements, RawValue: f.Raw})
		}
	}
	return out
}

func TestBatchDecodesWithGeneratedCode(t *testing.T) {
	d := sample()
	empty := &ResponseDigest{PairingKey: "k", Role: RolePrimary}
	b := AppendBatchHeader(nil, 42, 7)
	for _, x := range []*ResponseDigest{d, empty} {
		enc := AppendResponseDigest(nil, x)
		before := len(b)
		b = AppendBatchDigest(b, enc)
		if got := len(b) - before; got != BatchDigestSize(len(enc)) {
			t.Errorf("BatchDigestSize = %d, appended %d", BatchDigestSize(len(enc)), got)
		}
	}
	var got pb.DigestBatch
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := &pb.DigestBatch{Sequence: 42, Dropped: 7, Digests: []*pb.ResponseDigest{toPB(d), toPB(empty)}}
	// An empty sub-message is still sent (the collector sees a present, empty Workload).
	want.Digests[1].Body = nil
	if diff := cmp.Diff(want, &got, protocmp.Transform()); diff != "" {
		t.Errorf("batch mismatch (-want +got):\n%s", diff)
	}
}

// Strings that come from traffic as bytes are sent as UTF-8, as protobuf
// requires: protobuf-go, which checks, decodes the digest. Values (header
// and raw values) have each run of other bytes replaced by U+FFFD; strings
// that identify a request (the pairing key, paths) are escaped without
// loss, so two keys that differ only in such bytes stay two keys (U+FFFD
// paired the primary of one request with the shadows of another).
func TestStringsAreSentAsUTF8(t *testing.T) {
	send := func(key, path string) *pb.ResponseDigest {
		d := &ResponseDigest{PairingKey: key, Role: RolePrimary,
			Endpoint: EndpointRef{Method: "GET", Path: path}, Request: RequestFingerprint{Method: "GET", Path: path},
			Headers: []HeaderDigest{{Name: "x-name", Raw: ptr("Jos\xe9 \xff\xfe!")}},
			Body:    &BodyDigest{Fields: []FieldEntry{{Path: "name", Raw: ptr("Ren\xe9e")}}}}
		var got pb.ResponseDigest
		if err := proto.Unmarshal(AppendResponseDigest(nil, d), &got); err != nil {
			t.Fatalf("protobuf-go refuses the digest: %v", err)
		}
		return &got
	}
	got := send("id-\xff", "/caf\xe9")
	for _, c := range []struct{ got, want string }{
		{got.PairingKey, `id-\xFF`}, {got.Endpoint.Path, `/caf\xE9`}, {got.Request.Path, `/caf\xE9`},
		{got.Headers[0].GetRawValue(), "Jos\uFFFD \uFFFD!"}, {got.Body.Fields[0].GetRawValue(), "Ren\uFFFDe"},
	} {
		if c.got != c.want {
			t.Errorf("sent %q, want %q", c.got, c.want)
		}
	}
	// Keys that are not UTF-8 stay distinct, a backslash in them
	// included; valid keys are sent as they are.
	seen := map[string]string{}
	// Control characters (a tab is allowed in a header value), which the
	// collector refuses, are escaped too.
	for _, key := range []string{"req-\xe9", "req-\xe8\xff", "req-\xe8", "req-\\\xe9", "req-\\x\xe9", "req-\\xE9\xff", "req-\xe9\xff", `req-\`, "req-é", "plain-1",
		"req\t1", "req\t\xff"} {
		sent := send(key, "/").PairingKey
		if other, ok := seen[sent]; ok {
			t.Errorf("keys %q and %q both sent as %q", other, key, sent)
		}
		seen[sent] = key
		if plain := utf8.ValidString(key) && !strings.ContainsRune(key, '\t'); plain && sent != key {
			t.Errorf("valid key %q sent as %q", key, sent)
		}
		if strings.ContainsFunc(sent, func(r rune) bool { return r < ' ' }) {
			t.Errorf("key %q sent with a control character: %q", key, sent)
		}
	}
}

func TestParseDigestAck(t *testing.T) {
	b, err := proto.Marshal(&pb.DigestAck{Sequence: 9, Accepted: 62, Rejections: []*pb.Rejection{{Index: 3, Reason: "pairing_key: empty"}, {Index: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseDigestAck(b)
	if err != nil {
		t.Fatal(err)
	}
	want := DigestAck{Sequence: 9, Accepted: 62, Rejections: []Rejection{{3, "pairing_key: empty"}, {0, ""}}}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Error(diff)
	}
	if _, err := ParseDigestAck(b[:len(b)-3]); err == nil {
		t.Error("truncated ack parsed without error")
	}
}

func TestEnumsMatchProto(t *testing.T) {
	check := func(name string, got int32, m map[string]int32) {
		t.Helper()
		if want, ok := m[name]; !ok || want != got {
			t.Errorf("%s = %d, proto says %d (present %v)", name, got, want, ok)
		}
	}
	check("ROLE_CANDIDATE", int32(RoleCandidate), pb.Role_value)
	check("SKIP_REASON_NO_RESPONSE", int32(SkipNoResponse), pb.SkipReason_value)
	check("JSON_TYPE_MIXED", int32(TypeMixed), pb.JsonType_value)
	check("VALUE_SHAPE_MIXED", int32(ShapeMixed), pb.ValueShape_value)
	check("VALUE_SHAPE_EPOCH_MILLIS", int32(ShapeEpochMillis), pb.ValueShape_value)
	check("BODY_KIND_BINARY", int32(BodyBinary), pb.BodyKind_value)
	if len(pb.ValueShape_value) != int(ShapeMixed)+1 || len(pb.JsonType_value) != int(TypeMixed)+1 || len(pb.BodyKind_value) != int(BodyBinary)+1 {
		t.Error("proto enums grew: update package wire")
	}
}

func BenchmarkAppendResponseDigest(b *testing.B) {
	d := sample()
	buf := make([]byte, 0, 8192)
	for b.Loop() {
		buf = AppendResponseDigest(buf[:0], d)
	}
	b.SetBytes(int64(len(buf)))
}
