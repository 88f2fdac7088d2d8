package store

import (
	"maps"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// NumKinds is the size of per-kind counter arrays, indexed by DiffKind.
const NumKinds = int(shadowdiffv1.DiffKind_DIFF_KIND_BODY_NOT_COMPARABLE) + 1

// Bucket aggregates the requests of one endpoint whose time falls in
// [StartUnix, StartUnix+WidthSec). Queries add buckets up instead of
// re-diffing stored requests.
type Bucket struct {
	Endpoint     string `json:"e"`
	StartUnix    int64  `json:"s"`
	WidthSec     int64  `json:"w"`
	Method       string `json:"m,omitempty"`
	RouteName    string `json:"rn,omitempty"`
	PathTemplate string `json:"pt,omitempty"`

	FirstSeenNano int64 `json:"fs,omitempty"`
	LastSeenNano  int64 `json:"ls,omitempty"`

	Counts EndpointCounts `json:"c"`
	// Fields by query path ("body.user.name", "headers.date", "status").
	Fields map[string]*FieldCounts `json:"f,omitempty"`
	// Signatures counts compared requests by the set of their differences
	// that same-request noise does not explain, encoded by the engine; the
	// empty signature is not stored. Rules and learnt noise are applied to
	// signatures at query time, so they also apply to stored results.
	Signatures map[string]uint64 `json:"sig,omitempty"`
	// SignatureOverflow counts requests with such differences beyond the
	// signature cap; they always count as regression-different.
	SignatureOverflow uint64 `json:"so,omitempty"`
}

// BucketRef names a bucket.
type BucketRef struct {
	Endpoint  string
	StartUnix int64
}

// Ref returns the bucket's name.
func (b *Bucket) Ref() BucketRef { return BucketRef{Endpoint: b.Endpoint, StartUnix: b.StartUnix} }

// EndpointCounts are the request counters of an endpoint. Every request is
// exactly one of compared, skipped, incomplete or mismatched.
type EndpointCounts struct {
	Requests            uint64 `json:"r,omitempty"`
	Compared            uint64 `json:"c,omitempty"`
	WithSecondary       uint64 `json:"ws,omitempty"` // compared with a secondary
	RepeatPairs         uint64 `json:"rp,omitempty"` // repeated identical primary requests compared (no secondary)
	SkippedSideEffect   uint64 `json:"sk,omitempty"`
	Incomplete          uint64 `json:"inc,omitempty"`
	MissingPrimary      uint64 `json:"mp,omitempty"`
	MissingSecondary    uint64 `json:"ms,omitempty"`
	MissingCandidate    uint64 `json:"mc,omitempty"`
	FingerprintMismatch uint64 `json:"fm,omitempty"`
	Duplicates          uint64 `json:"d,omitempty"`
	RawDifferent        uint64 `json:"rd,omitempty"`
	NoiseDifferent      uint64 `json:"nd,omitempty"`
}

// FieldCounts are the counters of one field of one endpoint.
type FieldCounts struct {
	Seen uint64 `json:"n,omitempty"` // compared requests with the field on any side
	// NoiseSeen: requests with a noise comparison (a secondary or a
	// repeated request) in which the field appeared on either side.
	NoiseSeen uint64 `json:"ns,omitempty"`
	// The counters of differences, nil until the field differs on any
	// side: most fields never do, and these counters were nine tenths of
	// the aggregates' memory (5.5 MB per endpoint and week of 50 fields).
	// Read them with Diffs, count into them with Differed. Embedded so
	// that the stored JSON keeps its flat form.
	*FieldDiffs
}

// FieldDiffs count a field's differences. "Raw" is primary vs candidate,
// "noise" primary vs secondary; the structural counters count only type,
// shape and presence differences.
type FieldDiffs struct {
	Raw   uint64 `json:"r,omitempty"`
	Noise uint64 `json:"z,omitempty"`
	// RawAlone: raw differences in requests compared without a secondary.
	RawAlone uint64 `json:"ra,omitempty"`
	// Discordant pairs of requests compared with a secondary.
	Definite        uint64 `json:"b,omitempty"`  // raw differs, noise does not
	NoiseOnly       uint64 `json:"c,omitempty"`  // noise differs, raw does not
	RawStruct       uint64 `json:"rs,omitempty"` // structural raw differences
	NoiseStruct     uint64 `json:"zs,omitempty"`
	RawAloneStruct  uint64 `json:"ras,omitempty"`
	DefiniteStruct  uint64 `json:"bs,omitempty"`
	NoiseOnlyStruct uint64 `json:"cs,omitempty"`
	// Shape: structural raw differences on a field that differed only by
	// value between primary and secondary in the same request.
	Shape uint64 `json:"sh,omitempty"`
	// Differences between repeated identical requests to the primary.
	Repeat       uint64 `json:"rep,omitempty"`
	RepeatStruct uint64 `json:"reps,omitempty"`

	RawKinds   [NumKinds]uint64 `json:"rk"`
	NoiseKinds [NumKinds]uint64 `json:"zk"`
}

// Add adds o's counters to c.
func (c *EndpointCounts) Add(o *EndpointCounts) {
	c.Requests += o.Requests
	c.Compared += o.Compared
	c.WithSecondary += o.WithSecondary
	c.RepeatPairs += o.RepeatPairs
	c.SkippedSideEffect += o.SkippedSideEffect
	c.Incomplete += o.Incomplete
	c.MissingPrimary += o.MissingPrimary
	c.MissingSecondary += o.MissingSecondary
	c.MissingCandidate += o.MissingCandidate
	c.FingerprintMismatch += o.FingerprintMismatch
	c.Duplicates += o.Duplicates
	c.RawDifferent += o.RawDifferent
	c.NoiseDifferent += o.NoiseDifferent
}

// noDiffs is what Diffs returns for a field that never differed; noCounts
// stands for a field a bucket did not have. Both are only read.
var (
	noDiffs  FieldDiffs
	noCounts FieldCounts
)

// Diffs returns the field's counters of differences, zero when it never
// differed. Read only: the zero counters are shared.
func (c *FieldCounts) Diffs() *FieldDiffs {
	if c.FieldDiffs == nil {
		return &noDiffs
	}
	return c.FieldDiffs
}

// Differed returns the field's counters of differences for counting one,
// made on the first.
func (c *FieldCounts) Differed() *FieldDiffs {
	if c.FieldDiffs == nil {
		c.FieldDiffs = &FieldDiffs{}
	}
	return c.FieldDiffs
}

// Equal reports whether c and o hold the same counts.
func (c *FieldCounts) Equal(o *FieldCounts) bool {
	return c.Seen == o.Seen && c.NoiseSeen == o.NoiseSeen && *c.Diffs() == *o.Diffs()
}

// Add adds o's counters to c.
func (c *FieldCounts) Add(o *FieldCounts) {
	c.Seen += o.Seen
	c.NoiseSeen += o.NoiseSeen
	if o.FieldDiffs != nil {
		c.Differed().Add(o.FieldDiffs)
	}
}

// compact drops counters of differences that are all zero, as stores of
// earlier versions wrote them for every field.
func (c *FieldCounts) compact() {
	if c.FieldDiffs != nil && *c.FieldDiffs == (FieldDiffs{}) {
		c.FieldDiffs = nil
	}
}

// Add adds o's counters to c.
func (c *FieldDiffs) Add(o *FieldDiffs) {
	c.Raw += o.Raw
	c.Noise += o.Noise
	c.RawAlone += o.RawAlone
	c.Definite += o.Definite
	c.NoiseOnly += o.NoiseOnly
	c.RawStruct += o.RawStruct
	c.NoiseStruct += o.NoiseStruct
	c.RawAloneStruct += o.RawAloneStruct
	c.DefiniteStruct += o.DefiniteStruct
	c.NoiseOnlyStruct += o.NoiseOnlyStruct
	c.Shape += o.Shape
	c.Repeat += o.Repeat
	c.RepeatStruct += o.RepeatStruct
	for i := range c.RawKinds {
		c.RawKinds[i] += o.RawKinds[i]
		c.NoiseKinds[i] += o.NoiseKinds[i]
	}
}

// Sub subtracts o's counters from c, a set of counters that grew from o.
func (c *EndpointCounts) Sub(o *EndpointCounts) {
	c.Requests -= o.Requests
	c.Compared -= o.Compared
	c.WithSecondary -= o.WithSecondary
	c.RepeatPairs -= o.RepeatPairs
	c.SkippedSideEffect -= o.SkippedSideEffect
	c.Incomplete -= o.Incomplete
	c.MissingPrimary -= o.MissingPrimary
	c.MissingSecondary -= o.MissingSecondary
	c.MissingCandidate -= o.MissingCandidate
	c.FingerprintMismatch -= o.FingerprintMismatch
	c.Duplicates -= o.Duplicates
	c.RawDifferent -= o.RawDifferent
	c.NoiseDifferent -= o.NoiseDifferent
}

// Sub subtracts o's counters from c, a set of counters that grew from o.
func (c *FieldDiffs) Sub(o *FieldDiffs) {
	c.Raw -= o.Raw
	c.Noise -= o.Noise
	c.RawAlone -= o.RawAlone
	c.Definite -= o.Definite
	c.NoiseOnly -= o.NoiseOnly
	c.RawStruct -= o.RawStruct
	c.NoiseStruct -= o.NoiseStruct
	c.RawAloneStruct -= o.RawAloneStruct
	c.DefiniteStruct -= o.DefiniteStruct
	c.NoiseOnlyStruct -= o.NoiseOnlyStruct
	c.Shape -= o.Shape
	c.Repeat -= o.Repeat
	c.RepeatStruct -= o.RepeatStruct
	for i := range c.RawKinds {
		c.RawKinds[i] -= o.RawKinds[i]
		c.NoiseKinds[i] -= o.NoiseKinds[i]
	}
}

// Snapshot is a bucket's counters at one time, kept to add up later what
// the bucket gained since (MergeGrowth). Taking one copies the counters
// into slices and keeps pointers to the bucket's own field counters,
// which stay in place as they grow: no map is built, and adding the
// growth looks up no path in the bucket.
type Snapshot struct {
	counts            EndpointCounts
	fields            []fieldSnapshot
	signatures        map[string]uint64
	signatureOverflow uint64
}

type fieldSnapshot struct {
	path            string
	cur             *FieldCounts // the bucket's
	seen, noiseSeen uint64
	diffs           *FieldDiffs // a copy; nil when it had not differed
}

// Snapshot returns b's counters as they are now.
func (b *Bucket) Snapshot() *Snapshot {
	s := &Snapshot{counts: b.Counts, signatures: maps.Clone(b.Signatures), signatureOverflow: b.SignatureOverflow,
		fields: make([]fieldSnapshot, 0, len(b.Fields))}
	ds := make([]FieldDiffs, 0, differing(b.Fields))
	for p, fc := range b.Fields {
		f := fieldSnapshot{path: p, cur: fc, seen: fc.Seen, noiseSeen: fc.NoiseSeen}
		if fc.FieldDiffs != nil {
			ds = append(ds, *fc.FieldDiffs)
			f.diffs = &ds[len(ds)-1]
		}
		s.fields = append(s.fields, f)
	}
	return s
}

// Requests is the snapshot's count of requests and duplicates.
func (s *Snapshot) Requests() uint64 { return s.counts.Requests + s.counts.Duplicates }

// MergeGrowth adds into b what bucket cur gained since was, a snapshot of
// it whose counters are already in b: b ends as if cur had been merged
// instead. Buckets only grow, so every difference is a count to add.
// newField, when not nil, is called with each path cur gained since.
func (b *Bucket) MergeGrowth(cur *Bucket, was *Snapshot, maxSignatures int, newField func(path string)) {
	if cur.FirstSeenNano != 0 && (b.FirstSeenNano == 0 || cur.FirstSeenNano < b.FirstSeenNano) {
		b.FirstSeenNano = cur.FirstSeenNano
	}
	b.LastSeenNano = max(b.LastSeenNano, cur.LastSeenNano)
	d := cur.Counts
	d.Sub(&was.counts)
	b.Counts.Add(&d)
	for i := range was.fields {
		f := &was.fields[i]
		fc := f.cur
		if fc.Seen == f.seen && fc.NoiseSeen == f.noiseSeen && (fc.FieldDiffs == nil || f.diffs != nil && *fc.FieldDiffs == *f.diffs) {
			continue // unchanged
		}
		dst := b.fieldCounts(f.path, len(cur.Fields))
		dst.Seen += fc.Seen - f.seen
		dst.NoiseSeen += fc.NoiseSeen - f.noiseSeen
		if fc.FieldDiffs != nil {
			g := *fc.FieldDiffs
			if f.diffs != nil {
				g.Sub(f.diffs)
			}
			dst.Differed().Add(&g)
		}
	}
	if len(cur.Fields) > len(was.fields) { // fields only join a bucket
		had := make(map[string]struct{}, len(was.fields))
		for i := range was.fields {
			had[was.fields[i].path] = struct{}{}
		}
		for p, fc := range cur.Fields {
			if _, ok := had[p]; ok {
				continue
			}
			b.fieldCounts(p, len(cur.Fields)).Add(fc)
			if newField != nil {
				newField(p)
			}
		}
	}
	for s, n := range cur.Signatures {
		if g := n - was.signatures[s]; g > 0 {
			b.AddSignature(s, g, maxSignatures)
		}
	}
	b.SignatureOverflow += cur.SignatureOverflow - was.signatureOverflow
}

// fieldCounts returns b's counters of path, made when missing; sizeHint
// sizes a map made for the first.
func (b *Bucket) fieldCounts(path string, sizeHint int) *FieldCounts {
	if b.Fields == nil {
		b.Fields = make(map[string]*FieldCounts, sizeHint)
	}
	dst := b.Fields[path]
	if dst == nil {
		dst = &FieldCounts{}
		b.Fields[path] = dst
	}
	return dst
}

// Merge adds o (a bucket of the same endpoint) into b, keeping at most
// maxSignatures signatures; the rest go to SignatureOverflow.
func (b *Bucket) Merge(o *Bucket, maxSignatures int) {
	if b.Method == "" {
		b.Method, b.RouteName, b.PathTemplate = o.Method, o.RouteName, o.PathTemplate
	}
	if o.FirstSeenNano != 0 && (b.FirstSeenNano == 0 || o.FirstSeenNano < b.FirstSeenNano) {
		b.FirstSeenNano = o.FirstSeenNano
	}
	if o.LastSeenNano > b.LastSeenNano {
		b.LastSeenNano = o.LastSeenNano
	}
	b.Counts.Add(&o.Counts)
	for p, fc := range o.Fields {
		b.fieldCounts(p, len(o.Fields)).Add(fc)
	}
	for s, n := range o.Signatures {
		b.AddSignature(s, n, maxSignatures)
	}
	b.SignatureOverflow += o.SignatureOverflow
}

// AddSignature counts n requests with signature sig, or overflows.
func (b *Bucket) AddSignature(sig string, n uint64, maxSignatures int) {
	if _, ok := b.Signatures[sig]; !ok && len(b.Signatures) >= maxSignatures {
		b.SignatureOverflow += n
		return
	}
	if b.Signatures == nil {
		b.Signatures = make(map[string]uint64)
	}
	b.Signatures[sig] += n
}

// Clone returns a deep copy of b, its field counters in two allocations.
func (b *Bucket) Clone() *Bucket {
	c := *b
	c.Fields = nil
	if b.Fields != nil {
		c.Fields = make(map[string]*FieldCounts, len(b.Fields))
		fcs := make([]FieldCounts, 0, len(b.Fields))
		ds := make([]FieldDiffs, 0, differing(b.Fields))
		for p, fc := range b.Fields {
			fcs = append(fcs, *fc)
			cp := &fcs[len(fcs)-1]
			if fc.FieldDiffs != nil {
				ds = append(ds, *fc.FieldDiffs)
				cp.FieldDiffs = &ds[len(ds)-1]
			}
			c.Fields[p] = cp
		}
	}
	c.Signatures = maps.Clone(b.Signatures)
	return &c
}

// differing counts the fields that have counters of differences.
func differing(fields map[string]*FieldCounts) int {
	n := 0
	for _, fc := range fields {
		if fc.FieldDiffs != nil {
			n++
		}
	}
	return n
}
