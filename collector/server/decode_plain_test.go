package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Builders of hand-made encodings, one field at a time.

func bytesField(b []byte, num protowire.Number, payload string) []byte {
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), payload)
}

func varintField(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func fixedField(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendFixed64(protowire.AppendTag(b, num, protowire.Fixed64Type), v)
}

func batchOf(digests ...[]byte) []byte {
	b := varintField(nil, 1, 7)
	for _, d := range digests {
		b = bytesField(b, batchDigests, string(d))
	}
	return b
}

func header(name string) []byte {
	h := bytesField(nil, 1, name)
	h = fixedField(h, 2, 42)
	return varintField(h, 3, uint64(shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT))
}

// unusualDigest is the encoding of a digest, and whether it is in the
// plain form (decoded by plainDigest rather than the generated code).
type unusualDigest struct {
	name   string
	digest []byte
	plain  bool
}

func unusualDigests() []unusualDigest {
	key := bytesField(nil, 1, "req-1")
	var cs []unusualDigest
	add := func(name string, plain bool, fields ...[]byte) {
		cs = append(cs, unusualDigest{name, append(append([]byte(nil), key...), concat(fields...)...), plain})
	}
	hdr := func(h []byte) []byte { return bytesField(nil, digestHeaders, string(h)) }

	reversed := varintField(nil, 3, 4)
	reversed = fixedField(reversed, 2, 9)
	reversed = bytesField(reversed, 4, "raw")
	reversed = bytesField(reversed, 1, "etag")
	add("header fields in reverse order", true, hdr(reversed))
	add("header name repeated, the last wins", false, hdr(bytesField(header("first"), 1, "second")))
	add("empty header name and raw value", true, hdr(bytesField(bytesField(nil, 1, ""), 4, "")))
	add("raw value repeated", false, hdr(bytesField(bytesField(header("date"), 4, "a"), 4, "b")), hdr(bytesField(header("etag"), 4, "c")))
	add("unknown field in a header", false, hdr(header("vary")), hdr(varintField(header("etag"), 9, 1)))
	add("group in a header", false, hdr(protowire.AppendTag(header("etag"), 9, protowire.StartGroupType)))
	add("two-byte tag in a header", false, hdr(append([]byte{1<<3 | 2 | 0x80, 0}, protowire.AppendString(nil, "etag")...)))
	add("header truncated", false, hdr(header("etag")[:3]))
	add("header name with a wrong wire type", false, hdr(varintField(nil, 1, 5)))
	var many [][]byte
	for i := range 12 {
		many = append(many, hdr(header(fmt.Sprintf("x-h%d", i))))
	}
	add("more headers than the digest holds", true, many...)

	w1 := bytesField(bytesField(nil, 1, "shop"), 2, "demo")
	w2 := bytesField(bytesField(nil, 3, "v2"), 1, "cart")
	add("workload sent twice, merged", false, bytesField(nil, 3, string(w1)), bytesField(nil, 3, string(w2)))
	add("empty workload", true, bytesField(nil, 3, ""))
	add("unknown field in a workload", false, bytesField(nil, 3, string(varintField(w1, 15, 1))))
	e1 := bytesField(bytesField(bytesField(nil, 1, "GET"), 2, "orders"), 3, "/orders/1")
	e2 := bytesField(bytesField(nil, 4, "shop.demo"), 3, "/orders/2")
	add("endpoint sent twice, merged", false, bytesField(nil, 4, string(e1)), bytesField(nil, 4, string(e2)))
	r := fixedField(fixedField(bytesField(bytesField(nil, 1, "POST"), 2, "/cart"), 3, 5), 4, 6)
	r = varintField(varintField(r, 5, 100), 6, 1)
	add("request sent twice, merged", false, bytesField(nil, 5, string(r)), bytesField(nil, 5, string(bytesField(nil, 2, "/cart/2"))))
	add("request with a wrong wire type", false, bytesField(nil, 5, string(varintField(nil, 3, 5))))

	body := bytesField(bytesField(nil, 1, "application/json"), 9, "bad")
	body = varintField(varintField(varintField(body, 6, 2), 7, 1), 11, 1)
	body = bytesField(body, bodyFields, string(bytesField(nil, 1, "a")))
	body2 := bytesField(varintField(nil, 8, 1), 2, "gzip")
	body2 = bytesField(body2, bodyFields, string(bytesField(varintField(nil, 99, 1), 1, "b"))) // not a plain entry
	add("body sent twice, merged", false, bytesField(nil, digestBody, string(body)), bytesField(nil, digestBody, string(body2)))
	// A body cut inside a field, completed by the next occurrence: the
	// generated code refuses it, their concatenation decodes.
	cut := []byte{6 << 3}
	add("body occurrence cut short", false, bytesField(nil, digestBody, string(cut)), bytesField(nil, digestBody, "\x01"))
	add("body occurrence cut short, in an unknown digest field", false, bytesField(nil, digestBody, string(cut)),
		bytesField(nil, digestBody, "\x01"), varintField(nil, 14, 1))
	add("unknown field in a body", false, bytesField(nil, digestBody, string(varintField(body, 12, 1))))

	add("scalars out of range of their types", true, varintField(nil, 2, 1<<40|3), varintField(nil, 6, 1<<33|200),
		varintField(nil, 10, uint64(1<<64-5)), varintField(nil, 11, 2), varintField(nil, 12, 1<<63), fixedField(nil, 13, 1))
	add("pairing key repeated, the last wins", false, bytesField(nil, 1, "req-2"))
	add("non-minimal varint length", false, []byte{1<<3 | 2, 0x82, 0x00, 'k', '2'})
	add("unknown field in a digest", false, varintField(nil, 14, 1))
	add("pairing key with a wrong wire type", false, varintField(nil, 1, 1))
	add("two-byte tag", false, []byte{2<<3 | 0x80, 0, 1})
	add("overlong varint", false, append([]byte{2 << 3}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}...))
	add("truncated fixed64", false, []byte{13<<3 | 1, 1, 2})
	return cs
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestDecodeUnusualDigests(t *testing.T) {
	for _, c := range unusualDigests() {
		t.Run(c.name, func(t *testing.T) {
			decodeBoth(t, batchOf(c.digest))
			var d decoder
			ok, err := d.plainDigest(c.digest, &digestParts{})
			if ok != c.plain || err != nil {
				t.Errorf("plainDigest: plain %v (%v), want %v", ok, err, c.plain)
			}
		})
	}
}

// The pending paths of a digest go with it, even when all are empty.
func TestDecodePathsStayWithTheirDigest(t *testing.T) {
	entry := func(path string, extra []byte) string {
		return string(append(fixedField(bytesField(nil, 1, path), 5, 1), extra...))
	}
	emptyPaths := bytesField(bytesField(nil, bodyFields, entry("", nil)), bodyFields, entry("", nil))
	unusual := bytesField(bytesField(nil, bodyFields, entry("x", varintField(nil, 99, 1))), bodyFields, entry("y", nil))
	got := decodeBoth(t, batchOf(bytesField(nil, digestBody, string(emptyPaths)), bytesField(nil, digestBody, string(unusual)),
		bytesField(nil, 1, "no body")))
	if fs := got.Digests[1].Body.Fields; fs[0].Path != "x" || fs[1].Path != "y" {
		t.Errorf("paths %q, %q", fs[0].Path, fs[1].Path)
	}
}

// Digests of a batch share the strings that repeat, but not those that
// identify a request.
func TestDecodeSharesRepeatedStrings(t *testing.T) {
	start := time.Unix(1, 0)
	data := marshal(t, &shadowdiffv1.DigestBatch{Digests: []*shadowdiffv1.ResponseDigest{
		tripleDigest(1, shadowdiffv1.Role_ROLE_PRIMARY, start), tripleDigest(2, shadowdiffv1.Role_ROLE_PRIMARY, start)}})
	got := decodeBoth(t, data)
	a, b := got.Digests[0], got.Digests[1]
	same := func(what, x, y string) {
		t.Helper()
		if x != y || unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s: %q and %q are not one string", what, x, y)
		}
	}
	same("workload name", a.Workload.Name, b.Workload.Name)
	same("workload instance", a.Workload.Instance, b.Workload.Instance)
	same("endpoint method", a.Endpoint.Method, b.Endpoint.Method)
	same("request method", a.Request.Method, a.Endpoint.Method)
	same("content type", a.Body.ContentType, b.Body.ContentType)
	for i := range a.Headers {
		same("header name", a.Headers[i].Name, b.Headers[i].Name)
	}
	if unsafe.StringData(a.PairingKey) == unsafe.StringData(b.PairingKey) {
		t.Error("pairing keys share their bytes")
	}
}

// A batch with more distinct or longer names than the interner keeps
// decodes them all, and still shares those it keeps.
func TestDecodeBeyondTheInterner(t *testing.T) {
	ds := digests(3*internMax, shadowdiffv1.Role_ROLE_PRIMARY)
	for i, d := range ds {
		d.Headers = []*shadowdiffv1.HeaderDigest{
			{Name: "vary"}, {Name: fmt.Sprintf("x-distinct-%d", i)}, {Name: strings.Repeat("l", internMaxLen+1)}}
	}
	got := decodeBoth(t, marshal(t, &shadowdiffv1.DigestBatch{Digests: ds}))
	first, last := got.Digests[0].Headers[0].Name, got.Digests[len(ds)-1].Headers[0].Name
	if unsafe.StringData(first) != unsafe.StringData(last) {
		t.Error("the first name interned is not shared once the interner is full")
	}
}

// The filter's digests take a few allocations each, not one per string
// and sub-message (a digest of BenchmarkIngestEngine took 25).
func TestDecodeAllocations(t *testing.T) {
	const n = 64
	batch := &shadowdiffv1.DigestBatch{Sequence: 1}
	for k := range n {
		batch.Digests = append(batch.Digests, tripleDigest(k, shadowdiffv1.Role_ROLE_CANDIDATE, time.Unix(1, 0)))
	}
	data := marshal(t, batch)
	allocs := testing.AllocsPerRun(10, func() {
		var m shadowdiffv1.DigestBatch
		if _, _, _, err := decodeBatch(data, &m, true, 0); err != nil {
			t.Fatal(err)
		}
	})
	// The digest with its sub-messages and header pointers, its headers,
	// its strings; per batch the interned strings and scratch space.
	if perDigest := allocs / n; perDigest > 4 {
		t.Errorf("%.1f allocations per digest, want at most 4", perDigest)
	}
}
