package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Stored aggregate buckets are in a binary form: a group commit writes
// every bucket it touched again, whole, and JSON's encoding was ~2% of
// ingest's CPU (3.4 KB and ~170 µs for a minute of a 59-field endpoint).
// Buckets written before are JSON, told apart by their first byte.
//
// The form: bucketFormat, the strings and times of the bucket, the
// endpoint counters, the fields (name, seen counters, whether it
// differed and then its difference counters: the scalars, the raw kinds,
// the noise kinds) and the signatures. Each group of counters is preceded
// by its number, so a counter added to a group later (a scalar at its
// end, a DiffKind) reads as zero in a bucket written before it.
const bucketFormat = 1

// endpointCounterSlots are the addresses of c's counters, in their stored
// order: new ones go at the end.
func endpointCounterSlots(c *EndpointCounts) [13]*uint64 {
	return [...]*uint64{&c.Requests, &c.Compared, &c.WithSecondary, &c.RepeatPairs, &c.SkippedSideEffect,
		&c.Incomplete, &c.MissingPrimary, &c.MissingSecondary, &c.MissingCandidate, &c.FingerprintMismatch,
		&c.Duplicates, &c.RawDifferent, &c.NoiseDifferent}
}

// fieldDiffSlots are the addresses of c's scalar counters, in their
// stored order: new ones go at the end. Its kind arrays are groups of
// their own.
func fieldDiffSlots(c *FieldDiffs) [13]*uint64 {
	return [...]*uint64{&c.Raw, &c.Noise, &c.RawAlone, &c.Definite, &c.NoiseOnly, &c.RawStruct, &c.NoiseStruct,
		&c.RawAloneStruct, &c.DefiniteStruct, &c.NoiseOnlyStruct, &c.Shape, &c.Repeat, &c.RepeatStruct}
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendCounters(b []byte, slots []*uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(slots)))
	for _, p := range slots {
		b = binary.AppendUvarint(b, *p)
	}
	return b
}

func appendValues(b []byte, vs []uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(vs)))
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

// encodeBucket appends the stored form of b to dst.
func encodeBucket(dst []byte, b *Bucket) []byte {
	dst = append(dst, bucketFormat)
	dst = appendString(dst, b.Endpoint)
	dst = binary.AppendVarint(dst, b.StartUnix)
	dst = binary.AppendVarint(dst, b.WidthSec)
	dst = appendString(dst, b.Method)
	dst = appendString(dst, b.RouteName)
	dst = appendString(dst, b.PathTemplate)
	dst = binary.AppendVarint(dst, b.FirstSeenNano)
	dst = binary.AppendVarint(dst, b.LastSeenNano)
	ec := endpointCounterSlots(&b.Counts)
	dst = appendCounters(dst, ec[:])
	dst = binary.AppendUvarint(dst, uint64(len(b.Fields)))
	for name, fc := range b.Fields {
		dst = appendString(dst, name)
		dst = binary.AppendUvarint(dst, fc.Seen)
		dst = binary.AppendUvarint(dst, fc.NoiseSeen)
		if fc.FieldDiffs == nil {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		fd := fieldDiffSlots(fc.FieldDiffs)
		dst = appendCounters(dst, fd[:])
		dst = appendValues(dst, fc.RawKinds[:])
		dst = appendValues(dst, fc.NoiseKinds[:])
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Signatures)))
	for sig, n := range b.Signatures {
		dst = appendString(dst, sig)
		dst = binary.AppendUvarint(dst, n)
	}
	return binary.AppendUvarint(dst, b.SignatureOverflow)
}

// bucketReader reads the stored form; the first error sticks.
type bucketReader struct {
	data []byte
	err  error
}

var errTruncated = errors.New("truncated")

func (r *bucketReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.data = r.data[n:]
	return v
}

// varint reads what binary.AppendVarint writes: a zig-zag uvarint.
func (r *bucketReader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *bucketReader) byte() byte {
	if len(r.data) == 0 {
		r.fail(errTruncated)
		return 0
	}
	c := r.data[0]
	r.data = r.data[1:]
	return c
}

func (r *bucketReader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.data)) {
		r.fail(errTruncated)
		return ""
	}
	s := string(r.data[:n])
	r.data = r.data[n:]
	return s
}

func (r *bucketReader) skipString() {
	if n := r.uvarint(); n > uint64(len(r.data)) {
		r.fail(errTruncated)
	} else {
		r.data = r.data[n:]
	}
}

// count reads a number of items each at least min bytes long.
func (r *bucketReader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.data)/min) {
		r.fail(fmt.Errorf("%d items in %d bytes", n, len(r.data)))
		return 0
	}
	return int(n)
}

func (r *bucketReader) counters(slots []*uint64) {
	n := r.count(1)
	if n > len(slots) {
		r.fail(fmt.Errorf("%d counters, this version knows %d", n, len(slots)))
		return
	}
	for _, p := range slots[:n] {
		*p = r.uvarint()
	}
}

// values reads a group of counters into vs, as counters does.
func (r *bucketReader) values(vs []uint64) {
	n := r.count(1)
	if n > len(vs) {
		r.fail(fmt.Errorf("%d counters, this version knows %d", n, len(vs)))
		return
	}
	for i := range n {
		vs[i] = r.uvarint()
	}
}

func (r *bucketReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.data = nil
}

// storedBucketWidth reads the width of a bucket in the binary form
// without decoding the rest.
func storedBucketWidth(data []byte) (int64, error) {
	r := bucketReader{data: data}
	if v := r.byte(); v != bucketFormat && r.err == nil {
		return 0, fmt.Errorf("bucket width: format %d, this version reads %d", v, bucketFormat)
	}
	r.skipString() // endpoint
	r.varint()     // start
	w := r.varint()
	if r.err != nil {
		return 0, fmt.Errorf("bucket width: %w", r.err)
	}
	return w, nil
}

// decodeBucket reads a stored bucket, in either form.
func decodeBucket(data []byte) (*Bucket, error) {
	b := &Bucket{}
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, b); err != nil {
			return nil, err
		}
		for _, fc := range b.Fields {
			fc.compact()
		}
		return b, nil
	}
	r := bucketReader{data: data}
	if v := r.byte(); v != bucketFormat && r.err == nil {
		return nil, fmt.Errorf("format %d, this version reads %d", v, bucketFormat)
	}
	b.Endpoint = r.string()
	b.StartUnix = r.varint()
	b.WidthSec = r.varint()
	b.Method = r.string()
	b.RouteName = r.string()
	b.PathTemplate = r.string()
	b.FirstSeenNano = r.varint()
	b.LastSeenNano = r.varint()
	ec := endpointCounterSlots(&b.Counts)
	r.counters(ec[:])
	if n := r.count(4); n > 0 {
		b.Fields = make(map[string]*FieldCounts, n)
		for range n {
			name := r.string()
			fc := &FieldCounts{Seen: r.uvarint(), NoiseSeen: r.uvarint()}
			switch r.byte() {
			case 0:
			case 1:
				fc.FieldDiffs = &FieldDiffs{}
				fd := fieldDiffSlots(fc.FieldDiffs)
				r.counters(fd[:])
				r.values(fc.RawKinds[:])
				r.values(fc.NoiseKinds[:])
				fc.compact()
			default:
				r.fail(fmt.Errorf("field %q: bad flag", name))
			}
			b.Fields[name] = fc
		}
	}
	if n := r.count(2); n > 0 {
		b.Signatures = make(map[string]uint64, n)
		for range n {
			sig := r.string()
			b.Signatures[sig] = r.uvarint()
		}
	}
	b.SignatureOverflow = r.uvarint()
	if r.err == nil && len(r.data) > 0 {
		r.err = fmt.Errorf("%d bytes after the bucket", len(r.data))
	}
	if r.err != nil {
		return nil, r.err
	}
	return b, nil
}
