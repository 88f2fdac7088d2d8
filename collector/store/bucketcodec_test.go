package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// setCounters sets every uint64 counter of the struct v points to, arrays
// included, to distinct values from next: a counter added to the struct
// but not to its slots then fails the round trip.
func setCounters(t *testing.T, v any, next *uint64) {
	t.Helper()
	s := reflect.ValueOf(v).Elem()
	for i := range s.NumField() {
		f := s.Field(i)
		switch {
		case f.Kind() == reflect.Uint64:
			*next++
			f.SetUint(*next)
		case f.Kind() == reflect.Array && f.Type().Elem().Kind() == reflect.Uint64:
			for k := range f.Len() {
				*next++
				f.Index(k).SetUint(*next)
			}
		default:
			t.Fatalf("%s.%s is a %s: teach the bucket codec and this test about it", s.Type(), s.Type().Field(i).Name, f.Type())
		}
	}
}

func fullBucket(t *testing.T) *Bucket {
	next := uint64(1 << 40) // large values: multi-byte varints
	b := &Bucket{Endpoint: "GET /orders/{id}", StartUnix: -60, WidthSec: 3600, Method: "GET", RouteName: "orders",
		PathTemplate: "/orders/{id}", FirstSeenNano: 1, LastSeenNano: -2,
		Fields: map[string]*FieldCounts{
			"body.same":     {Seen: 5, NoiseSeen: 4},
			"headers.date":  {Seen: 7, NoiseSeen: 7, FieldDiffs: &FieldDiffs{}},
			"body.price":    {Seen: 9, FieldDiffs: &FieldDiffs{}},
			"body.unicode€": {Seen: 1},
		},
		Signatures: map[string]uint64{"\x00\x01": 3, "sig": 1 << 63}, SignatureOverflow: 12}
	setCounters(t, &b.Counts, &next)
	setCounters(t, b.Fields["headers.date"].FieldDiffs, &next)
	setCounters(t, b.Fields["body.price"].FieldDiffs, &next)
	return b
}

func TestBucketCodecRoundTrip(t *testing.T) {
	want := fullBucket(t)
	data := encodeBucket(nil, want)
	got, err := decodeBucket(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v\nwant    %+v", got, want)
	}
	if w, err := bucketWidth(data); err != nil || w != want.WidthSec {
		t.Errorf("bucketWidth = %d, %v; want %d", w, err, want.WidthSec)
	}
	// A field whose difference counters are all zero loads without them,
	// as from JSON.
	zero := &Bucket{Endpoint: "e", WidthSec: 60, Fields: map[string]*FieldCounts{"f": {Seen: 1, FieldDiffs: &FieldDiffs{}}}}
	if got, err := decodeBucket(encodeBucket(nil, zero)); err != nil || got.Fields["f"].FieldDiffs != nil {
		t.Errorf("zero counters decoded as %+v, %v; want none", got.Fields["f"], err)
	}
}

// A bucket written with fewer counters than this version has (by an
// earlier one) reads the missing ones as zero; one with more is refused.
func TestBucketCodecCounterCounts(t *testing.T) {
	var b []byte
	b = append(b, bucketFormat)
	b = appendString(b, "e")
	b = append(b, 0, 120) // start 0, width 60 (zigzag)
	b = append(b, 0, 0, 0, 0, 0)
	b = append(b, 2, 7, 9) // two endpoint counters
	b = append(b, 1)       // one field
	b = appendString(b, "body.x")
	b = append(b, 3, 3, 1, 1, 4) // seen, noise seen, differed: one scalar counter
	b = append(b, byte(NumKinds-1), 0, 6)
	for range NumKinds - 3 {
		b = append(b, 0) // raw kinds: one fewer than this version has
	}
	b = append(b, 2, 0, 5) // noise kinds: two
	b = append(b, 0, 0)    // no signatures, no overflow
	got, err := decodeBucket(b)
	if err != nil {
		t.Fatal(err)
	}
	d := got.Fields["body.x"].Diffs()
	if got.Counts.Requests != 7 || got.Counts.Compared != 9 || got.Counts.WithSecondary != 0 || d.Raw != 4 || d.Noise != 0 ||
		d.RawKinds[1] != 6 || d.RawKinds[NumKinds-1] != 0 || d.NoiseKinds[1] != 5 || d.NoiseKinds[0] != 0 {
		t.Errorf("decoded %+v, %+v", got.Counts, d)
	}
	b[len(b)-NumKinds-8] = 2 // the field's flag
	if _, err := decodeBucket(b); err == nil || !strings.Contains(err.Error(), "bad flag") {
		t.Errorf("a field whose flag is 2: %v", err)
	}
	more := []byte{bucketFormat, 1, 'e', 0, 120, 0, 0, 0, 0, 0, 14}
	for range 14 {
		more = append(more, 1)
	}
	if _, err := decodeBucket(append(more, 0, 0, 0)); err == nil {
		t.Error("decoded a bucket with 14 endpoint counters; this version has 13")
	}
}

// Cut anywhere, or with a byte changed, a bucket is refused or read, never
// a panic; a count larger than the bytes left allocates nothing.
func TestBucketCodecRefusesDamage(t *testing.T) {
	data := encodeBucket(nil, fullBucket(t))
	for n := range len(data) {
		if _, err := decodeBucket(data[:n]); err == nil {
			t.Errorf("decoded the first %d of %d bytes", n, len(data))
		}
	}
	if _, err := decodeBucket(append(data, 0)); err == nil {
		t.Error("decoded a bucket with a byte after it")
	}
	if _, err := decodeBucket(append([]byte{2}, data[1:]...)); err == nil {
		t.Error("decoded format 2")
	}
	huge := []byte{bucketFormat, 1, 'e', 0, 120, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if _, err := decodeBucket(huge); err == nil {
		t.Error("decoded 2^32 fields from 16 bytes")
	}
}

func FuzzDecodeBucket(f *testing.F) {
	f.Add(encodeBucket(nil, &Bucket{Endpoint: "e", WidthSec: 60, Fields: map[string]*FieldCounts{"f": {Seen: 1, FieldDiffs: &FieldDiffs{Raw: 1}}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBucket(data)
		if err != nil || data[0] == '{' { // JSON: an empty map reads as nil from the binary form
			return
		}
		again, err := decodeBucket(encodeBucket(nil, b))
		if err != nil || !reflect.DeepEqual(again, b) {
			t.Fatalf("%+v re-encoded decodes as %+v, %v", b, again, err)
		}
	})
}

// BenchmarkEncodeBucket writes a minute of an endpoint of 59 fields (two
// of them noisy, one regressed), as every group commit does for each
// bucket it touched, in the stored form and in the JSON of earlier
// versions.
func BenchmarkEncodeBucket(b *testing.B) {
	bk := &Bucket{Endpoint: "GET /api/orders/{id}", StartUnix: 1795799940, WidthSec: 60, Method: "GET", PathTemplate: "/api/orders/{id}",
		FirstSeenNano: 1795799987989189650, LastSeenNano: 1795799987989189650, Fields: map[string]*FieldCounts{},
		Counts: EndpointCounts{Requests: 57536, Compared: 57536, WithSecondary: 57408, RepeatPairs: 64, RawDifferent: 57536, NoiseDifferent: 57408}}
	for i := range 50 {
		bk.Fields[fmt.Sprintf("body.order.f%02d", i)] = &FieldCounts{Seen: 57536, NoiseSeen: 57472}
	}
	for i := range 9 {
		bk.Fields[fmt.Sprintf("headers.h%d", i)] = &FieldCounts{Seen: 57536, NoiseSeen: 57472}
	}
	for _, f := range []string{"body.order.f00", "body.order.f01"} {
		bk.Fields[f].FieldDiffs = &FieldDiffs{Raw: 57536, Noise: 57408, RawAlone: 128, RawKinds: [NumKinds]uint64{1: 57536}, NoiseKinds: [NumKinds]uint64{1: 57408}}
	}
	bk.Fields["body.order.f02"].FieldDiffs = &FieldDiffs{Raw: 6293, RawAlone: 14, Definite: 6279, RawKinds: [NumKinds]uint64{1: 6293}}
	bk.Signatures = map[string]uint64{"a": 50000, "ab": 6000, "abc": 279}
	b.Run("form=binary", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = encodeBucket(buf[:0], bk)
		}
		b.ReportMetric(float64(len(buf)), "bytes")
	})
	b.Run("form=json", func(b *testing.B) {
		var n int
		for b.Loop() {
			data, err := json.Marshal(bk)
			if err != nil {
				b.Fatal(err)
			}
			n = len(data)
		}
		b.ReportMetric(float64(n), "bytes")
	})
}
