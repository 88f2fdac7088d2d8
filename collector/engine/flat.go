package engine

import (
	"strings"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// flatEntry is a body field in flat form: a digest's fields are one slice of
// these instead of a heap object (and a path string) per field, so that
// pending requests cost little memory and no pointers for the GC to chase.
type flatEntry struct {
	path          string
	valueHash     uint64
	unorderedHash uint64
	typ           shadowdiffv1.JsonType
	shape         shadowdiffv1.ValueShape
	occurrences   uint32
	elements      uint32
	lengthBucket  uint32
	rawValue      *string
}

func flatEntryOf(e *shadowdiffv1.FieldEntry) flatEntry {
	return flatEntry{path: e.Path, valueHash: e.ValueHash, unorderedHash: e.UnorderedHash, typ: e.Type, shape: e.Shape,
		occurrences: e.Occurrences, elements: e.Elements, lengthBucket: e.LengthBucket, rawValue: e.RawValue}
}

func compareFlatPaths(a, b flatEntry) int { return strings.Compare(a.path, b.path) }

// fill sets e (a zero FieldEntry) to the field, for records and samples.
func (f *flatEntry) fill(e *shadowdiffv1.FieldEntry) {
	e.Path, e.Type, e.Shape, e.LengthBucket = f.path, f.typ, f.shape, f.lengthBucket
	e.ValueHash, e.UnorderedHash, e.Occurrences, e.Elements = f.valueHash, f.unorderedHash, f.occurrences, f.elements
	e.RawValue = f.rawValue
}

// response is one response as the diff sees it: the digest (whose body fields
// may have been dropped) and its body fields in flat form, sorted by path.
// src, when set, holds the original entries in the order of fields, so
// that differences point at them instead of copies.
type response struct {
	d      *shadowdiffv1.ResponseDigest
	fields []flatEntry
	src    []*shadowdiffv1.FieldEntry
}

// responseOf flattens a full digest's body fields, sorted by path as
// sortDigest leaves them, into scratch (reused when it has the capacity)
// and returns the response and the grown scratch.
func responseOf(d *shadowdiffv1.ResponseDigest, scratch []flatEntry) (response, []flatEntry) {
	fs := d.GetBody().GetFields()
	if len(fs) == 0 {
		// No fields, and no scratch in the response: keep would hand it
		// to the repeat cache, and from there to the field pool.
		return response{d: d}, scratch
	}
	flat := scratch[:0]
	for _, e := range fs {
		flat = append(flat, flatEntryOf(e))
	}
	return response{d: d, fields: flat, src: fs}, flat
}

// slim is what a pending request keeps of a digest once it is stored: the
// message without body fields, and the fields (sorted by path, as
// sortDigest leaves them) in flat form with interned paths. full reverses
// it.
func slim(d *shadowdiffv1.ResponseDigest, in *interner) (*shadowdiffv1.ResponseDigest, []flatEntry) {
	s := withoutFields(d)
	fs := d.GetBody().GetFields()
	if len(fs) == 0 {
		return s, nil
	}
	flat := make([]flatEntry, len(fs))
	for i, e := range fs {
		flat[i] = flatEntryOf(e)
	}
	in.paths(flat)
	return s, flat
}

// withoutFields copies the digest's top level and body, without the body
// fields; the other parts are shared.
func withoutFields(d *shadowdiffv1.ResponseDigest) *shadowdiffv1.ResponseDigest {
	return &shadowdiffv1.ResponseDigest{PairingKey: d.PairingKey, Role: d.Role, Workload: d.Workload,
		Endpoint: d.Endpoint, Request: d.Request, Status: d.Status, Headers: d.Headers, Body: bodyMeta(d.Body),
		UpstreamLatencyMicros: d.UpstreamLatencyMicros, StartUnixNanos: d.StartUnixNanos, Shadow: d.Shadow,
		Skip: d.Skip, TrailersHash: d.TrailersHash}
}

// bodyMeta copies a body without its fields.
func bodyMeta(b *shadowdiffv1.BodyDigest) *shadowdiffv1.BodyDigest {
	if b == nil {
		return nil
	}
	return &shadowdiffv1.BodyDigest{ContentType: b.ContentType, ContentEncoding: b.ContentEncoding,
		WireSize: b.WireSize, DecodedSize: b.DecodedSize, Hash: b.Hash, Kind: b.Kind, Truncated: b.Truncated,
		DecodeBudgetExceeded: b.DecodeBudgetExceeded, Error: b.Error, FieldsTruncated: b.FieldsTruncated}
}

// full rebuilds a complete digest from its slim form (nil stays nil). It
// shares the slim digest's parts; callers that hand it out clone it.
func full(d *shadowdiffv1.ResponseDigest, fields []flatEntry) *shadowdiffv1.ResponseDigest {
	if d == nil || len(fields) == 0 {
		return d
	}
	c := withoutFields(d)
	if c.Body == nil {
		c.Body = &shadowdiffv1.BodyDigest{}
	}
	c.Body.Fields = make([]*shadowdiffv1.FieldEntry, len(fields))
	entries := make([]shadowdiffv1.FieldEntry, len(fields)) // one allocation for all
	for i := range fields {
		fields[i].fill(&entries[i])
		c.Body.Fields[i] = &entries[i]
	}
	return c
}

// maxInterned bounds the distinct field paths shared between digests, and
// the path lists remembered; beyond it, digests keep their own strings.
const maxInterned = 1 << 16

// interner shares the path strings of stored digests: the same paths
// come back in every response of an endpoint. Used under the engine's mu;
// its table is shared with the engine's fieldSource.
type interner struct {
	tbl *pathTable
	// last holds the interned paths of the last digest with the same
	// shape: responses of an endpoint list the same paths, so comparing
	// with them saves a lookup per field. lastPaths counts the strings
	// the lists hold: bounded by maxInterned, so responses whose keys vary
	// (ids as keys) cannot make the lists grow without limit.
	last      map[pathsShape][]string
	lastPaths int
}

// pathsShape tells the path lists of different responses apart cheaply.
type pathsShape struct {
	first, last string
	n           int
}

func newInterner(tbl *pathTable) *interner {
	return &interner{tbl: tbl, last: map[pathsShape][]string{}}
}

func (in *interner) intern(s string) string { return in.tbl.intern(s) }

// paths replaces the paths of fields (not empty) with interned ones.
func (in *interner) paths(fields []flatEntry) {
	shape := pathsShape{first: fields[0].path, last: fields[len(fields)-1].path, n: len(fields)}
	prev := in.last[shape]
	same := prev != nil
	for i := range fields {
		if same && prev[i] == fields[i].path {
			fields[i].path = prev[i]
			continue
		}
		same = false
		fields[i].path = in.intern(fields[i].path)
	}
	if same {
		return
	}
	if in.lastPaths+len(fields) > maxInterned {
		clear(in.last)
		in.lastPaths = 0
		if len(fields) > maxInterned {
			return
		}
	}
	in.lastPaths += len(fields)
	cur := make([]string, len(fields))
	for i := range fields {
		cur[i] = fields[i].path
	}
	in.last[pathsShape{first: cur[0], last: cur[len(cur)-1], n: len(cur)}] = cur
}
