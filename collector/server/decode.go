package server

import (
	"errors"
	"iter"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/shadowdiff/shadowdiff/collector/internal/protoscan"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Field numbers of the repeated messages that make up most of a batch.
const (
	batchDigests  = 2  // DigestBatch.digests
	digestHeaders = 7  // ResponseDigest.headers
	digestBody    = 8  // ResponseDigest.body
	bodyFields    = 10 // BodyDigest.fields
)

// unmarshalBatch decodes a DigestBatch into m (which must be empty) with
// the result of m.UnmarshalVT(data), but with a few allocations per digest
// instead of a few per string and sub-message: a digest in the plain form
// the filter sends (decode_plain.go) is allocated with its sub-messages,
// its headers in one slice, its body fields in another, its strings that
// repeat from digest to digest shared within the batch and the others
// copied into one string. Everything else (unknown fields, unusual
// encodings, malformed input) is decoded by the generated code, at the
// level of the batch, the digest or the body field it is found in.
//
// It returns the encoding of each digest, slices of data.
func unmarshalBatch(data []byte, m *shadowdiffv1.DigestBatch) ([][]byte, error) {
	wire, bad, _, err := decodeBatch(data, m, false, 0)
	if err == nil && len(bad) > 0 {
		// As with the generated code, one digest fails the batch.
		return nil, bad[0].err
	}
	return wire, err
}

// undecodable is a digest that could not be decoded in a batch that
// could: its index in the batch, and why.
type undecodable struct {
	index int
	err   error
}

// rejection is the digest's rejection, worded as the engine words a body
// it cannot read ("body.fields: undecodable: ...").
func (u undecodable) rejection() *shadowdiffv1.Rejection {
	return &shadowdiffv1.Rejection{Index: uint32(u.index), Reason: "undecodable: " + u.err.Error()}
}

// decodeBatch is unmarshalBatch; with skipFields, the digests' body fields
// are left out (for an EncodedIngester, which reads them from the
// encodings). With maxDigests > 0, a batch of more digests is decoded
// without its digests (a flood of tiny digests costs far more memory
// decoded than sent) and over is their number; the caller refuses it. A
// bounded decoding also refuses a batch protowire cannot read.
//
// A digest that cannot be decoded in a batch that protowire reads (each
// digest a length-delimited field, so the others stand on their own) is
// left out of m and wire and listed in bad, in the batch's order: the
// caller rejects it alone.
func decodeBatch(data []byte, m *shadowdiffv1.DigestBatch, skipFields bool, maxDigests int) (wire [][]byte, bad []undecodable, over int, err error) {
	dec := decoder{skipFields: skipFields}
	n, err := dec.scan(data, batchDigests, -1, nil)
	if maxDigests > 0 && n > maxDigests {
		// Refused by its count: only the other fields are decoded, for
		// the refusal to name the batch.
		_ = m.UnmarshalVT(dec.rest)
		return nil, nil, n, nil
	}
	if err != nil {
		if maxDigests > 0 {
			// The generated code reads some of what protowire refuses
			// (an overlong varint) but has no bound: a bounded decoding
			// refuses the batch, as the reference decoder does.
			return nil, nil, 0, err
		}
		wire, err := generated(data, m)
		return wire, nil, 0, err
	}
	if err := m.UnmarshalVT(dec.rest); err != nil {
		return nil, nil, 0, err
	}
	wire, bad = dec.digests(m, n, payloads(data, batchDigests))
	return wire, bad, 0, nil
}

// decodeSplit is decodeBatch for a batch that splitSegments read: the
// payloads of its n digests and its other fields (rest). An error is the
// other fields'.
func decodeSplit(digests [][]byte, rest []byte, m *shadowdiffv1.DigestBatch, skipFields bool) (wire [][]byte, bad []undecodable, err error) {
	if err := m.UnmarshalVT(rest); err != nil {
		return nil, nil, err
	}
	dec := decoder{skipFields: skipFields}
	wire, bad = dec.digests(m, len(digests), slices.Values(digests))
	return wire, bad, nil
}

// digests decodes the n digests of a batch into m.Digests, and returns
// their encodings and the ones that could not be decoded.
func (dec *decoder) digests(m *shadowdiffv1.DigestBatch, n int, each iter.Seq[[]byte]) (wire [][]byte, bad []undecodable) {
	// Room for a typical digest, grown for a bigger one.
	dec.headers = make([][]byte, 0, 16)
	dec.pending = make([]pendingString, 0, 64)
	dec.strs = make([]byte, 0, 512)
	wire = make([][]byte, 0, n)
	// One allocation per digest, not one for the batch: the engine keeps
	// some digests longer than others.
	m.Digests = make([]*shadowdiffv1.ResponseDigest, 0, n)
	i := 0
	for b := range each {
		if d, err := dec.digest(b); err != nil {
			bad = append(bad, undecodable{i, err})
		} else {
			m.Digests = append(m.Digests, d)
			wire = append(wire, b)
		}
		i++
	}
	return wire, bad
}

// generated decodes with the generated code what protowire refuses
// (which may be malformed, or only unusual: mismatched group ends), and
// encodes the digests again.
func generated(data []byte, m *shadowdiffv1.DigestBatch) ([][]byte, error) {
	if err := m.UnmarshalVT(data); err != nil {
		return nil, err
	}
	wire := make([][]byte, len(m.Digests))
	for i, d := range m.Digests {
		var err error
		if wire[i], err = d.MarshalVT(); err != nil {
			return nil, err
		}
	}
	return wire, nil
}

// decoder holds the scratch space of one batch's decoding. Its interner
// lives as long as the batch: the strings that repeat are shared by the
// digests of a batch, and a hostile batch fills a table that goes with it.
type decoder struct {
	skipFields bool
	rest       []byte                    // the other fields of the message being decoded
	body       []byte                    // bodies sent more than once, concatenated
	headers    [][]byte                  // the header payloads of the digest being decoded
	strs       []byte                    // the digest's strings, gathered (decode_strings.go)
	pending    []pendingString           // where they go
	entries    []shadowdiffv1.FieldEntry // the body fields of the digest
	paths      []pendingPath             // and where their paths are
	names      interner
	last       [numSlots]string // see keepShared
}

// scan checks the message in data, counts its length-delimited fields
// num and collects the others in d.rest. Fields num2 (when not -1) are
// counted apart and passed to also. On error, n and d.rest hold what
// came before the field protowire refuses.
func (d *decoder) scan(data []byte, num, num2 protowire.Number, also func([]byte)) (n int, err error) {
	d.rest = d.rest[:0]
	for len(data) > 0 {
		f, p, rest, ok := protoscan.NextField(data)
		if !ok {
			return n, errors.New("malformed message")
		}
		switch {
		case p != nil && f == num:
			n++
		case p != nil && f == num2:
			also(p)
		default:
			d.rest = append(d.rest, data[:len(data)-len(rest)]...)
		}
		data = rest
	}
	return n, nil
}

// wellFormed reports whether protowire reads data as a message.
func wellFormed(data []byte) bool {
	for len(data) > 0 {
		_, _, rest, ok := protoscan.NextField(data)
		if !ok {
			return false
		}
		data = rest
	}
	return true
}

// payloads yields the payload of each length-delimited field num of a
// message that scan has checked.
func payloads(data []byte, num protowire.Number) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			f, p, rest, ok := protoscan.NextField(data)
			if !ok {
				return
			}
			if f == num && p != nil && !yield(p) {
				return
			}
			data = rest
		}
	}
}

// digest decodes one ResponseDigest.
func (d *decoder) digest(data []byte) (*shadowdiffv1.ResponseDigest, error) {
	p := &digestParts{}
	m := &p.digest
	ok, err := d.plainDigest(data, p)
	if !ok {
		d.dropPending()
		m = &shadowdiffv1.ResponseDigest{}
		err = d.anyDigest(data, m)
	}
	if err != nil {
		d.dropPending()
		return nil, err
	}
	d.setStrings()
	return m, nil
}

// anyDigest decodes a digest in any form into m, with the generated code
// but for its headers and body fields.
func (d *decoder) anyDigest(data []byte, m *shadowdiffv1.ResponseDigest) error {
	var body []byte
	bodies, whole := 0, true
	headers, err := d.scan(data, digestHeaders, digestBody, func(b []byte) {
		body = d.mergeBody(body, bodies, b)
		bodies++
		// A field cut at the end of one occurrence and finished by the
		// next decodes from the joined bytes, but the generated code
		// refuses it: such a digest goes to the generated code whole.
		whole = whole && wellFormed(b)
	})
	if err != nil || !whole {
		return m.UnmarshalVT(data)
	}
	if err := m.UnmarshalVT(d.rest); err != nil {
		return err
	}
	if headers > 0 {
		hs := make([]shadowdiffv1.HeaderDigest, headers)
		m.Headers = make([]*shadowdiffv1.HeaderDigest, 0, headers)
		for b := range payloads(data, digestHeaders) {
			h := &hs[len(m.Headers)]
			if err := h.UnmarshalVT(b); err != nil {
				return err
			}
			m.Headers = append(m.Headers, h)
		}
	}
	if bodies > 0 {
		m.Body = &shadowdiffv1.BodyDigest{}
		return d.bodyDigest(body, m.Body)
	}
	return nil
}

// mergeBody returns the body made of the previous occurrences' (prev, of
// n occurrences) and b: repeated occurrences of a message field merge, as
// their concatenation decodes. Each occurrence is appended once, so many
// of them cost linear time.
func (d *decoder) mergeBody(prev []byte, n int, b []byte) []byte {
	switch n {
	case 0:
		return b
	case 1:
		d.body = append(d.body[:0], prev...)
	}
	d.body = append(d.body, b...) // prev is d.body from here on
	return d.body
}

// bodyDigest decodes a BodyDigest into b.
func (d *decoder) bodyDigest(data []byte, b *shadowdiffv1.BodyDigest) error {
	n, err := d.scan(data, bodyFields, -1, nil)
	if err != nil {
		return b.UnmarshalVT(data)
	}
	if err := b.UnmarshalVT(d.rest); err != nil {
		return err
	}
	if n == 0 || d.skipFields {
		return nil
	}
	return d.fieldEntries(data, n, b)
}

// fieldEntries decodes the n field entries of a body (data) into b, in
// one slice, their strings pending.
func (d *decoder) fieldEntries(data []byte, n int, b *shadowdiffv1.BodyDigest) error {
	entries := make([]shadowdiffv1.FieldEntry, n)
	b.Fields = make([]*shadowdiffv1.FieldEntry, 0, n)
	d.entries = entries
	var pe protoscan.FieldEntry
	for f := range payloads(data, bodyFields) {
		i := len(b.Fields)
		e := &entries[i]
		b.Fields = append(b.Fields, e)
		if !protoscan.PlainFieldEntry(f, &pe) {
			if err := e.UnmarshalVT(f); err != nil {
				return err
			}
			continue
		}
		// Field by field: e is zero, and a struct assignment would
		// write its pointers too.
		d.keepPath(i, pe.Path(f))
		e.Type, e.Shape = shadowdiffv1.JsonType(pe.Type), shadowdiffv1.ValueShape(pe.Shape)
		e.LengthBucket, e.Occurrences, e.Elements = pe.LengthBucket, pe.Occurrences, pe.Elements
		e.ValueHash, e.UnorderedHash = pe.ValueHash, pe.UnorderedHash
		if pe.HasRaw {
			d.keepRaw(&e.RawValue, pe.Raw(f))
		}
	}
	return nil
}
