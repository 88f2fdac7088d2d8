package engine

import (
	"slices"
	"strings"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Signature encoding: elements "path\x1fS" (structural) or "path\x1fV"
// (value) joined by "\x1e", for the differences of one request that its
// own noise comparison does not explain.
const (
	sigSep      = "\x1e"
	sigKindSep  = "\x1f"
	sigStruct   = "S"
	sigValue    = "V"
	maxSigElems = 16 // longer signatures are cut (the request still counts)
)

// Default cardinality limits of one bucket.
const (
	maxFieldsPerBucket = 4096
	maxSignatures      = 512
)

// limits bound the cardinality of one bucket.
type limits struct {
	maxFields     int // distinct paths per bucket
	maxSignatures int
}

// field returns the counters of path, creating them within the limit; nil
// when the bucket is full.
func field(b *store.Bucket, path string, lim limits) *store.FieldCounts {
	if fc := b.Fields[path]; fc != nil {
		return fc
	}
	return newField(b, path, lim)
}

// fieldBytes is field for a path built in a scratch buffer: the lookup
// does not allocate.
func fieldBytes(b *store.Bucket, path []byte, lim limits) *store.FieldCounts {
	if fc := b.Fields[string(path)]; fc != nil {
		return fc
	}
	return newField(b, string(path), lim)
}

func newField(b *store.Bucket, path string, lim limits) *store.FieldCounts {
	if b.Fields == nil {
		b.Fields = make(map[string]*store.FieldCounts, 64)
	}
	if len(b.Fields) >= lim.maxFields {
		return nil
	}
	fc := &store.FieldCounts{}
	b.Fields[path] = fc
	return fc
}

// visitPaths calls fn with every query path of a response: status, its
// headers, and its body fields (or "body" for a body without fields). The
// slice is only valid during the call.
func visitPaths(v *response, fn func(path []byte)) {
	var arr [128]byte
	buf := arr[:0]
	fn(append(buf, pathStatus...))
	for _, h := range v.d.GetHeaders() {
		fn(append(append(buf, headerPrefix...), h.Name...))
	}
	if len(v.fields) == 0 && bodyKind(v.d.GetBody()) != shadowdiffv1.BodyKind_BODY_KIND_EMPTY {
		fn(append(buf, pathBody...))
	}
	for i := range v.fields {
		buf = appendQueryPath(buf[:0], v.fields[i].path)
		fn(buf)
	}
}

// markSeen counts the paths of the primary plus those only the other sides
// have (extra fields).
func markSeen(b *store.Bucket, p *response, cmp *comparison, noise bool, lim limits) {
	see := func(fc *store.FieldCounts) {
		if fc != nil {
			fc.Seen++
			if noise {
				fc.NoiseSeen++
			}
		}
	}
	for _, fc := range cmp.seen.counters(b, p, lim) {
		see(fc)
	}
	for _, o := range cmp.fields {
		if o.raw == kindExtra || (o.raw == kindNone && o.noise == kindExtra) {
			see(field(b, o.path, lim))
		}
	}
}

// seenCounters remembers the counters of every query path of the last
// response counted in a bucket: responses of an endpoint list the same
// headers and fields (their paths interned, so equal by pointer), and
// comparing the lists costs far less than looking each path up. A
// bucket's counters are never replaced (Merge only adds), so they stay
// valid while the bucket is the same; a list with a nil (bucket full) is
// not kept.
type seenCounters struct {
	b       *store.Bucket
	headers []string
	fields  []string
	body    bool // the bare "body" path was counted (a body without fields)
	list    []*store.FieldCounts
}

// counters returns the counters of visitPaths(p) in b (nil where the
// bucket is full), from the last call's when its paths were the same.
func (c *seenCounters) counters(b *store.Bucket, p *response, lim limits) []*store.FieldCounts {
	hs := p.d.GetHeaders()
	body := len(p.fields) == 0 && bodyKind(p.d.GetBody()) != shadowdiffv1.BodyKind_BODY_KIND_EMPTY
	if c.b == b && c.body == body && len(c.headers) == len(hs) && len(c.fields) == len(p.fields) {
		same := true
		for i, h := range hs {
			if h.Name != c.headers[i] {
				same = false
				break
			}
		}
		for i := 0; same && i < len(p.fields); i++ {
			same = p.fields[i].path == c.fields[i]
		}
		if same {
			return c.list
		}
	}
	c.b, c.body = b, body
	c.headers, c.fields = c.headers[:0], c.fields[:0]
	for _, h := range hs {
		c.headers = append(c.headers, h.Name)
	}
	for i := range p.fields {
		c.fields = append(c.fields, p.fields[i].path)
	}
	c.list = c.list[:0]
	visitPaths(p, func(path []byte) { c.list = append(c.list, fieldBytes(b, path, lim)) })
	if slices.Contains(c.list, nil) {
		// A full bucket: not remembered, so a path Merge adds later is
		// looked up again.
		c.b = nil
	}
	return c.list
}

// countCompared adds one compared request to the bucket.
func countCompared(b *store.Bucket, p *response, cmp *comparison, lim limits) {
	ec := &b.Counts
	ec.Requests++
	ec.Compared++
	if cmp.hasSecondary {
		ec.WithSecondary++
	}
	if len(cmp.raw) > 0 {
		ec.RawDifferent++
	}
	if len(cmp.noise) > 0 {
		ec.NoiseDifferent++
	}
	markSeen(b, p, cmp, cmp.hasSecondary, lim)
	var sig []string
	for _, o := range cmp.fields {
		fc := field(b, o.path, lim)
		if fc == nil {
			if o.raw != kindNone && !o.explained() {
				sig = append(sig, o.path+sigKindSep+sigStruct) // unknown field: counts as real
			}
			continue
		}
		countOutcome(fc, o, cmp.hasSecondary)
		if o.raw != kindNone && !o.explained() && len(sig) < maxSigElems {
			k := sigValue
			if structural(o.raw) {
				k = sigStruct
			}
			sig = append(sig, o.path+sigKindSep+k)
		}
	}
	if len(sig) > 0 {
		b.AddSignature(strings.Join(sig, sigSep), 1, lim.maxSignatures)
	}
}

func countOutcome(fc *store.FieldCounts, o fieldOutcome, withSecondary bool) {
	if o.raw == kindNone && o.noise == kindNone {
		return // a shape change needs a raw difference too
	}
	d := fc.Differed()
	rawS, noiseS := structural(o.raw), structural(o.noise)
	if o.raw != kindNone {
		d.Raw++
		d.RawKinds[o.raw]++
		if rawS {
			d.RawStruct++
		}
		if !withSecondary {
			d.RawAlone++
			if rawS {
				d.RawAloneStruct++
			}
		}
	}
	if o.noise != kindNone {
		d.Noise++
		d.NoiseKinds[o.noise]++
		if noiseS {
			d.NoiseStruct++
		}
	}
	if withSecondary {
		switch {
		case o.raw != kindNone && o.noise == kindNone:
			d.Definite++
		case o.noise != kindNone && o.raw == kindNone:
			d.NoiseOnly++
		}
		switch {
		case rawS && !noiseS:
			d.DefiniteStruct++
		case noiseS && !rawS:
			d.NoiseOnlyStruct++
		}
	}
	if o.shapeChange() {
		d.Shape++
	}
}

// countRepeat adds the comparison of two responses of the primary to the
// same request (same fingerprint): noise learnt without a secondary.
func countRepeat(b *store.Bucket, df *differ, prev, cur *response, lim limits) {
	b.Counts.RepeatPairs++
	diffs := df.responses(nil, prev, cur)
	visitPaths(cur, func(path []byte) {
		if fc := fieldBytes(b, path, lim); fc != nil {
			fc.NoiseSeen++
		}
	})
	for _, d := range diffs {
		if d.kind == kindExtra {
			if fc := field(b, d.path, lim); fc != nil {
				fc.NoiseSeen++
			}
		}
		if fc := field(b, d.path, lim); fc != nil {
			c := fc.Differed()
			c.Repeat++
			c.NoiseKinds[d.kind]++
			if structural(d.kind) {
				c.RepeatStruct++
			}
		}
	}
}

// regressionDifferent counts the requests of a bucket whose signature has
// at least one element that is not noise.
func regressionDifferent(b *store.Bucket, isNoise func(path string, structural bool) bool) uint64 {
	n := b.SignatureOverflow
	for sig, count := range b.Signatures {
		for elem := range strings.SplitSeq(sig, sigSep) {
			path, kind, _ := strings.Cut(elem, sigKindSep)
			if !isNoise(path, kind == sigStruct) {
				n += count
				break
			}
		}
	}
	return n
}
