package digest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

var benchSizes = []int{1 << 10, 16 << 10, 256 << 10}

// benchLoop runs digest b.N times and reports the fields listed and the
// heap allocations per listed field.
func benchLoop(b *testing.B, size int, digest func() int) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	digest() // warm up: a reused digester has its paths and buffers from then on
	// Finish the garbage of earlier benchmarks now: under Wasm a collection
	// running into the timed loop (write barriers on, mark work on the
	// one thread) distorts it.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fields := 0
	for b.Loop() {
		fields = digest()
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(fields), "fields")
	if fields > 0 && b.N > 0 {
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(fields), "allocs/field")
	}
}

// BenchmarkDigestJSON digests catalog documents with the one-shot
// DigestJSON and with the reused digester a BodyDigester holds.
func BenchmarkDigestJSON(b *testing.B) {
	for _, size := range benchSizes {
		src := catalogJSON(size)
		opts := &JSONOptions{Key: testKey, MaxFields: 2048}
		b.Run(fmt.Sprintf("oneshot/%dKiB", size>>10), func(b *testing.B) {
			benchLoop(b, len(src), func() int {
				d, err := DigestJSON(src, opts)
				if err != nil {
					b.Fatal(err)
				}
				return len(d.Fields)
			})
		})
		b.Run(fmt.Sprintf("reuse/%dKiB", size>>10), func(b *testing.B) {
			d := newJSONDigester(opts, hashCacheSize, 0)
			benchLoop(b, len(src), func() int {
				if err := d.digest(src); err != nil {
					b.Fatal(err)
				}
				return len(d.fields)
			})
		})
	}
}

// BenchmarkDigestBody is the whole body digest (body hash, kind, fields) of
// a plain and a gzip JSON body, one-shot and reused.
func BenchmarkDigestBody(b *testing.B) {
	opts := BodyOptions{JSON: JSONOptions{Key: testKey, MaxFields: 2048,
		Raw: func(p string) bool { return p == "meta.at" || p == "items[].vendor.country" }}}
	for _, size := range benchSizes[:2] {
		src := catalogJSON(size)
		for _, body := range []struct {
			name string
			b    Body
		}{
			{"plain", Body{ContentType: "application/json", Data: src, WireSize: uint64(len(src))}},
			{"gzip", Body{ContentType: "application/json", ContentEncoding: "gzip", Data: gzipBytes(b, src), WireSize: uint64(len(src))}},
		} {
			b.Run(fmt.Sprintf("oneshot/%s/%dKiB", body.name, size>>10), func(b *testing.B) {
				benchLoop(b, len(src), func() int { return len(DigestBody(body.b, &opts).Fields) })
			})
			b.Run(fmt.Sprintf("reuse/%s/%dKiB", body.name, size>>10), func(b *testing.B) {
				d := NewBodyDigester(opts)
				benchLoop(b, len(src), func() int { return len(d.Digest(body.b).Fields) })
			})
		}
	}
}

// BenchmarkAppendHeaderDigests digests a typical set of response headers
// into a reused slice.
func BenchmarkAppendHeaderDigests(b *testing.B) {
	hs := [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-length", "1024"},
		{"date", "Thu, 26 Nov 2026 10:00:00 GMT"}, {"server", "envoy"}, {"cache-control", "no-store"},
		{"etag", `"5d8c72a5edda8d6a"`}, {"vary", "accept-encoding"}, {"x-request-id", "123e4567-e89b-12d3-a456-426614174000"},
		{"x-envoy-upstream-service-time", "3"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}, {"x-ratelimit-remaining", "99"}}
	opts := &HeaderOptions{Key: testKey, Exclude: DefaultExcludedHeaders, Raw: func(n string) bool { return n == "cache-control" }}
	buf := make([]wire.HeaderDigest, 0, len(hs))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendHeaderDigests(buf[:0], hs, opts)
	}
	b.ReportMetric(float64(len(buf)), "headers")
}

// numbersJSON builds a document of about size bytes of number-heavy
// records in the spellings serializers write: integers, epochs, decimals
// with and without trailing zeros, and exponent forms (Python and Java
// write 1e-05 and 1.0E-5 for small values).
func numbersJSON(size int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"series":[`)
	for i := 0; sb.Len() < size-2; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"t":%d,"v":%d.%d,"p":0.%02d0,"w":1.0,"e":%de-05,"j":1.%dE-7,"big":6.02214076e23,"n":-%d}`,
			1764151200+i, i, i%97, i%100, i%9+1, i%10, i)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// BenchmarkDigestJSONNumbers digests a number-heavy document with a reused
// digester: the canonical number forms beyond the parser's fast paths.
func BenchmarkDigestJSONNumbers(b *testing.B) {
	src := numbersJSON(16 << 10)
	opts := &JSONOptions{Key: testKey, MaxFields: 2048}
	d := newJSONDigester(opts, hashCacheSize, 0)
	benchLoop(b, len(src), func() int {
		if err := d.digest(src); err != nil {
			b.Fatal(err)
		}
		return len(d.fields)
	})
}
