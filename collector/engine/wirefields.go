package engine

import (
	"encoding/binary"
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
			bound, ok := plainFlatEntry(entry, &out[i], &paths)
			if !ok {
				return nil, false
			}
			if bound < 0 {
				bound = start
			}
			bounds = append(bounds, [2]int32{bound, int32(paths.Len())})
		}
	}
	all := paths.String()
	for i, b := range bounds {
		out[i].path = all[b[0]:b[1]]
	}
	return out, true
}

// plainFlatEntry reads a FieldEntry made only of its known fields with
// their declared wire types (one-byte tags) into e, writing the path to
// paths. bound is where the last path written starts (-1: none). ok is
// false for anything else.
func plainFlatEntry(data []byte, e *flatEntry, paths *strings.Builder) (bound int32, ok bool) {
	const bytesTag, fixedTag = 2, 1
	bound = -1
	for i := 0; i < len(data); {
		tag := data[i]
		i++
		switch tag {
		case 1<<3 | bytesTag, 9<<3 | bytesTag: // path, raw_value
			n, k := protoscan.Uvarint(data[i:])
			if k <= 0 || n > uint64(len(data)-i-k) {
				return 0, false
			}
			i += k
			v := data[i : i+int(n)]
			i += int(n)
			if tag>>3 == 1 {
				bound = int32(paths.Len())
				paths.Write(v)
			} else {
				s := string(v)
				e.rawValue = &s
			}
		case 5<<3 | fixedTag, 6<<3 | fixedTag: // value_hash, unordered_hash
			if len(data)-i < 8 {
				return 0, false
			}
			v := binary.LittleEndian.Uint64(data[i:])
			i += 8
			if tag>>3 == 5 {
				e.valueHash = v
			} else {
				e.unorderedHash = v
			}
		case 2 << 3, 3 << 3, 4 << 3, 7 << 3, 8 << 3: // varints
			v, k := protoscan.Uvarint(data[i:])
			if k <= 0 {
				return 0, false
			}
			i += k
			switch tag >> 3 {
			case 2:
				e.typ = shadowdiffv1.JsonType(v)
			case 3:
				e.shape = shadowdiffv1.ValueShape(v)
			case 4:
				e.lengthBucket = uint32(v)
			case 7:
				e.occurrences = uint32(v)
			case 8:
				e.elements = uint32(v)
			}
		default:
			return 0, false
		}
	}
	return bound, true
}
