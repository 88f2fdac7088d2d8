package digest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

var headerCases = [][][2]string{
	nil,
	{{"Cache-Control", "no-store"}, {"date", "x"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}, {"etag", `"abc"`}},
	{{"content-type", "application/json"}, {"x-b", "1"}, {"x-a", "2"}, {"X-A", "3"}, {"x-c", strings.Repeat("é", 200)}},
	{{"x-UPPER", "v"}, {"x-upper", "w"}, {"x-İ", "i"}, {"x-i̇", "dotted"}, {"vary", "a"}, {"Vary", "b"}, {"vary", "c"}},
	{{":status", "200"}, {"x-request-id", "1"}, {"server", "envoy"}, {"x-trace", "123e4567-e89b-12d3-a456-426614174000"}},
}

// TestHeaderDigestsMatchReference compares DigestHeaders and
// AppendHeaderDigests (appending after existing entries) with the
// reference implementation.
func TestHeaderDigestsMatchReference(t *testing.T) {
	for _, opts := range []*HeaderOptions{
		{Key: testKey, Exclude: DefaultExcludedHeaders, Raw: func(n string) bool { return n == "cache-control" || strings.HasPrefix(n, "x-") }},
		{Key: testKey, Include: []string{"etag", "x-a", "vary", "x-upper"}},
		{Key: NewKey([]byte("other")), Raw: func(string) bool { return true }},
	} {
		for i, hs := range headerCases {
			want := refDigestHeaders(hs, opts)
			if got := DigestHeaders(hs, opts); !reflect.DeepEqual(got, want) {
				t.Errorf("case %d: DigestHeaders = %+v, want %+v", i, got, want)
			}
			prefix := []wire.HeaderDigest{{Name: "zz-kept", ValueHash: 1}}
			got := AppendHeaderDigests(prefix, hs, opts)
			if got[0].Name != "zz-kept" || !reflect.DeepEqual(got[1:], want) && len(want) > 0 {
				t.Errorf("case %d: AppendHeaderDigests = %+v, want prefix then %+v", i, got, want)
			}
		}
	}
}

// TestSteadyStateAllocations: once warm, a reused digester allocates
// nothing for JSON bodies whose raw values repeat; nor does
// AppendHeaderDigests for lower-case, unrepeated headers. (Compressed
// bodies reuse the gzip and zlib readers and buffers, but compress/flate
// itself allocates link tables for dynamic Huffman blocks with long codes,
// and compress/zlib a new Adler-32 state per body.)
func TestSteadyStateAllocations(t *testing.T) {
	opts := BodyOptions{JSON: JSONOptions{Key: testKey, MaxFields: 2048,
		Raw: func(p string) bool { return p == "meta.at" || p == "items[].vendor" }}}
	d := NewBodyDigester(opts)
	var bodies []Body
	for _, doc := range [][]byte{catalogJSON(1 << 10), catalogJSON(16 << 10), generatedDoc(3), generatedDoc(7), []byte(tableDocs[0])} {
		bodies = append(bodies, Body{ContentType: "application/json", Data: doc, WireSize: uint64(len(doc))})
	}
	small := []byte(tableDocs[3])
	bodies = append(bodies, Body{ContentType: "application/json", ContentEncoding: "gzip", Data: gzipBytes(t, small), WireSize: uint64(len(small))})
	for _, b := range bodies {
		if k := d.Digest(b).Kind; k != wire.BodyJSON {
			t.Fatalf("warm-up: kind %v", k)
		}
	}
	if n := testing.AllocsPerRun(20, func() {
		for _, b := range bodies {
			d.Digest(b)
		}
	}); n != 0 {
		t.Errorf("BodyDigester.Digest: %v allocations per round of %d bodies, want 0", n, len(bodies))
	}

	hs := [][2]string{{"content-type", "application/json"}, {"cache-control", "no-store"}, {"etag", `"abc"`}, {"date", "x"}, {"x-long", strings.Repeat("v", 100)}}
	hopts := &HeaderOptions{Key: testKey, Exclude: DefaultExcludedHeaders}
	buf := make([]wire.HeaderDigest, 0, 8)
	if n := testing.AllocsPerRun(20, func() { buf = AppendHeaderDigests(buf[:0], hs, hopts) }); n != 0 {
		t.Errorf("AppendHeaderDigests: %v allocations, want 0", n)
	}
}

func TestNeedsLower(t *testing.T) {
	for _, s := range []string{"", "a", "content-type", "x-envoy-upstream-service-time", "Content-Type", "x-long-header-name-Z",
		"@[`{", "x-\u0130", "x-abcdefgh\x80", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz0123456789-_:"} {
		lower := strings.ToLower(s)
		if got := needsLower(s); !got && lower != s {
			t.Errorf("needsLower(%q) = false, but ToLower changes it", s)
		} else if got && lower == s && strings.ToLower(s) == s && isASCII(s) {
			t.Errorf("needsLower(%q) = true for a lower-case ASCII name", s)
		}
	}
	for c := 0; c < 256; c++ {
		s := "abcdefgh" + string(rune(c))[:1] + "ijklmnop"
		want := c >= 0x80 || ('A' <= c && c <= 'Z')
		if got := needsLower(s[:8] + string([]byte{byte(c)}) + s[9:]); got != want {
			t.Errorf("byte %#x: needsLower = %v, want %v", c, got, want)
		}
		if got := needsLower(string([]byte{byte(c)}) + "-------"); got != want {
			t.Errorf("byte %#x in a word: needsLower = %v, want %v", c, got, want)
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
