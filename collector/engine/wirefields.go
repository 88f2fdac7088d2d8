package engine

import (
	"strings"

	"github.com/shadowdiff/shadowdiff/collector/internal/protoscan"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Field numbers on the way to the body fields of an encoded digest.
const (
	wireDigestBody = 8  // ResponseDigest.body
	wireBodyFields = 10 // BodyDigest.fields
)

// wireFields reads the body fields of an encoded ResponseDigest straight
// into flat form: one slice, and one string for all their paths. Entries
// in the plain form the filter sends are read directly; anything else is
// decoded by the generated code (which also reports malformed input).
func wireFields(wire []byte) ([]flatEntry, error) {
	if fields, ok := plainFields(wire); ok {
		return fields, nil
	}
	var d shadowdiffv1.ResponseDigest
	if err := d.UnmarshalVT(wire); err != nil {
		return nil, err
	}
	fs := d.GetBody().GetFields()
	if len(fs) == 0 {
		return nil, nil
	}
	out := make([]flatEntry, len(fs))
	for i, e := range fs {
		if e != nil {
			out[i] = flatEntryOf(e)
		}
	}
	return out, nil
}

// plainFields is wireFields for digests whose every field entry is plain;
// ok is false otherwise.
func plainFields(wire []byte) (_ []flatEntry, ok bool) {
	n := 0
	for rest := wire; len(rest) > 0; {
		num, body, r, ok := protoscan.NextField(rest)
		if !ok {
			return nil, false
		}
		rest = r
		if num != wireDigestBody || body == nil {
			continue
		}
		for len(body) > 0 {
			num, entry, r, ok := protoscan.NextField(body)
			if !ok {
				return nil, false
			}
			body = r
			if num == wireBodyFields && entry != nil {
				n++
			}
		}
	}
	if n == 0 {
		return nil, true
	}
	out := make([]flatEntry, n)
	var boundsArr [128][2]int32
	bounds := boundsArr[:0]
	var paths strings.Builder
	paths.Grow(24 * n)
	for rest := wire; len(rest) > 0; {
		num, body, r, _ := protoscan.NextField(rest)
		rest = r
		if num != wireDigestBody || body == nil {
			continue
		}
		for len(body) > 0 {
			num, entry, r, _ := protoscan.NextField(body)
			body = r
			if num != wireBodyFields || entry == nil {
				continue
			}
			i := len(bounds)
			start := int32(paths.Len())
			pe, ok := protoscan.PlainFieldEntry(entry)
			if !ok {
				return nil, false
			}
			paths.Write(pe.Path)
			fe := &out[i]
			fe.typ, fe.shape = shadowdiffv1.JsonType(pe.Type), shadowdiffv1.ValueShape(pe.Shape)
			fe.lengthBucket, fe.occurrences, fe.elements = pe.LengthBucket, pe.Occurrences, pe.Elements
			fe.valueHash, fe.unorderedHash = pe.ValueHash, pe.UnorderedHash
			if pe.HasRaw {
				raw := string(pe.Raw)
				fe.rawValue = &raw
			}
			bounds = append(bounds, [2]int32{start, int32(paths.Len())})
		}
	}
	all := paths.String()
	for i, b := range bounds {
		out[i].path = all[b[0]:b[1]]
	}
	return out, true
}
