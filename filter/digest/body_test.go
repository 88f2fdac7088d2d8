package digest

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestDigestBodyKinds(t *testing.T) {
	opts := &BodyOptions{JSON: JSONOptions{Key: testKey}, MaxDecodedBytes: 1 << 10}
	plain := DigestBody(Body{ContentType: "application/json; charset=utf-8", Data: []byte(`{"a":1}`), WireSize: 7}, opts)
	if plain.Kind != wire.BodyJSON || plain.ContentType != "application/json" || len(plain.Fields) != 2 || plain.Hash == 0 {
		t.Errorf("plain json: %+v", plain)
	}
	zipped := gz(t, `{"a":1}`)
	dz := DigestBody(Body{ContentType: "application/json", ContentEncoding: "gzip", Data: zipped, WireSize: uint64(len(zipped))}, opts)
	if dz.Kind != wire.BodyJSON || dz.Hash != plain.Hash || dz.DecodedSize != 7 || dz.WireSize != uint64(len(zipped)) {
		t.Errorf("gzip json must digest like the plain body: %+v", dz)
	}
	bomb := gz(t, strings.Repeat("x", 1<<20))
	db := DigestBody(Body{ContentType: "text/plain", ContentEncoding: "gzip", Data: bomb, WireSize: uint64(len(bomb))}, opts)
	if !db.DecodeBudgetExceeded || db.DecodedSize != 1<<10 || db.Kind != wire.BodyText {
		t.Errorf("decode budget: %+v", db)
	}
	for _, tc := range []struct {
		b    Body
		kind wire.BodyKind
	}{
		{Body{}, wire.BodyEmpty},
		{Body{ContentType: "application/json", Data: []byte(`{"a":`), WireSize: 5}, wire.BodyInvalidJSON},
		{Body{Data: []byte(`[1,2]`), WireSize: 5}, wire.BodyJSON},
		{Body{ContentType: "text/plain", Data: []byte("hello"), WireSize: 5}, wire.BodyText},
		{Body{ContentType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0xff, 0xfe}, WireSize: 6}, wire.BodyBinary},
		{Body{ContentEncoding: "br", Data: []byte{1, 2}, WireSize: 2}, wire.BodyBinary},
	} {
		if got := DigestBody(tc.b, opts); got.Kind != tc.kind {
			t.Errorf("%+v: kind %v, want %v (%s)", tc.b, got.Kind, tc.kind, got.Error)
		}
	}
	trunc := DigestBody(Body{ContentType: "application/json", Data: []byte(`{"a":[1,2`), WireSize: 5000, Truncated: true}, opts)
	if trunc.Kind != wire.BodyInvalidJSON || !trunc.Truncated || !strings.Contains(trunc.Error, "truncated") {
		t.Errorf("truncated: %+v", trunc)
	}
}

// TestDeflateZlibAndRaw: "deflate" bodies decode whether the server sent
// zlib (RFC 9110) or raw DEFLATE, reusing one digester, and a corrupt zlib
// stream is an error rather than a raw DEFLATE guess.
func TestDeflateZlibAndRaw(t *testing.T) {
	opts := BodyOptions{JSON: JSONOptions{Key: testKey}, MaxDecodedBytes: 1 << 10}
	doc := []byte(`{"user":{"id":7,"tier":"gold"}}`)
	plain := DigestBody(Body{ContentType: "application/json", Data: doc, WireSize: uint64(len(doc))}, &opts)
	zl, raw := zlibBytes(t, doc), rawDeflateBytes(t, doc)
	if !isZlibHeader(zl) || isZlibHeader(raw) {
		t.Fatalf("isZlibHeader: zlib %v, raw %v", isZlibHeader(zl), isZlibHeader(raw))
	}
	d := NewBodyDigester(opts)
	for i, data := range [][]byte{zl, raw, zl, raw} {
		got := d.Digest(Body{ContentType: "application/json", ContentEncoding: "deflate", Data: data, WireSize: uint64(len(data))})
		if got.Kind != wire.BodyJSON || got.Hash != plain.Hash || got.DecodedSize != uint64(len(doc)) || got.Error != "" {
			t.Errorf("body %d: must digest like the plain body: %+v", i, got)
		}
	}
	bad := append([]byte(nil), zl...)
	bad[len(bad)-1] ^= 1 // Adler-32 checksum
	if got := d.Digest(Body{ContentType: "application/json", ContentEncoding: "deflate", Data: bad, WireSize: uint64(len(bad))}); got.Kind != wire.BodyBinary || !strings.Contains(got.Error, "checksum") {
		t.Errorf("bad checksum: %+v", got)
	}
	prefix := zl[:len(zl)/2]
	if got := d.Digest(Body{ContentType: "application/json", ContentEncoding: "deflate", Data: prefix, WireSize: uint64(len(zl)), Truncated: true}); got.Kind != wire.BodyInvalidJSON || got.DecodedSize == 0 {
		t.Errorf("truncated zlib capture must decode its prefix: %+v", got)
	}
	bomb := zlibBytes(t, bytes.Repeat([]byte("x"), 1<<20))
	if got := d.Digest(Body{ContentType: "text/plain", ContentEncoding: "deflate", Data: bomb, WireSize: uint64(len(bomb))}); !got.DecodeBudgetExceeded || got.DecodedSize != 1<<10 {
		t.Errorf("decode budget: %+v", got)
	}
}

func TestIsZlibHeader(t *testing.T) {
	for _, tc := range []struct {
		h    []byte
		want bool
	}{
		{[]byte{0x78, 0x01}, true}, // the four levels zlib writes
		{[]byte{0x78, 0x5e}, true},
		{[]byte{0x78, 0x9c}, true},
		{[]byte{0x78, 0xda}, true},
		{[]byte{0x08, 0x1d}, true},  // 256-byte window
		{[]byte{0x78}, false},       // too short
		{[]byte{0x78, 0x9d}, false}, // check bits wrong
		// The next three have valid check bits.
		{[]byte{0x79, 0x18}, false}, // method 9
		{[]byte{0x88, 0x1c}, false}, // window over 32 KiB
		{[]byte{0x78, 0xbb}, false}, // preset dictionary
		{[]byte{0xab, 0x56}, false}, // raw DEFLATE, fixed Huffman block
	} {
		if got := isZlibHeader(tc.h); got != tc.want {
			t.Errorf("isZlibHeader(% x) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestDigestHeaders(t *testing.T) {
	hs := [][2]string{{"Cache-Control", "no-store"}, {"date", "x"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}, {"etag", `"abc"`}}
	got := DigestHeaders(hs, &HeaderOptions{Key: testKey, Exclude: DefaultExcludedHeaders, Raw: func(n string) bool { return n == "cache-control" }})
	var names []string
	for _, h := range got {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "cache-control,etag,set-cookie" {
		t.Errorf("names %v", names)
	}
	if got[0].Raw == nil || *got[0].Raw != "no-store" || got[1].Raw != nil {
		t.Error("raw values only for allowlisted headers")
	}
	if got[2].ValueHash != testKey.SumString("a=1,b=2") {
		t.Error("repeated header values are joined with ','")
	}
	only := DigestHeaders(hs, &HeaderOptions{Key: testKey, Include: []string{"etag"}})
	if len(only) != 1 || only[0].Name != "etag" {
		t.Errorf("include: %+v", only)
	}
}
