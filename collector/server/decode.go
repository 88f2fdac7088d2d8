package server

import (
	"google.golang.org/protobuf/encoding/protowire"

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
// instead of two per body field: the headers and body fields of a digest
// are allocated in one slice each and the paths of its fields share one
// string. Everything but those repeated messages, and any field entry that
// is not in the plain form the filter sends, is decoded by the generated
// code, so unknown fields and malformed input are handled as it does.
//
// It returns the encoding of each digest, slices of data.
func unmarshalBatch(data []byte, m *shadowdiffv1.DigestBatch) ([][]byte, error) {
	var digests [][]byte
	rest, err := split(data, nil, func(n protowire.Number, b []byte) bool {
		if n == batchDigests {
			digests = append(digests, b)
		}
		return n == batchDigests
	})
	if err != nil {
		return nil, m.UnmarshalVT(data) // reports the error
	}
	if err := m.UnmarshalVT(rest); err != nil {
		return nil, err
	}
	// One allocation per digest, not one for the batch: the engine keeps
	// some digests longer than others.
	m.Digests = make([]*shadowdiffv1.ResponseDigest, len(digests))
	for i, b := range digests {
		m.Digests[i] = &shadowdiffv1.ResponseDigest{}
		if rest, err = unmarshalDigest(b, m.Digests[i], rest); err != nil {
			return nil, err
		}
	}
	return digests, nil
}

// split calls take with the payload of every length-delimited field of
// the message in data, in order, and returns the fields it did not take
// appended to rest[:0]. It fails on malformed input.
func split(data, rest []byte, take func(n protowire.Number, payload []byte) bool) ([]byte, error) {
	rest = rest[:0]
	for len(data) > 0 {
		n, typ, tagLen := protowire.ConsumeTag(data)
		if tagLen < 0 {
			return nil, protowire.ParseError(tagLen)
		}
		valLen := protowire.ConsumeFieldValue(n, typ, data[tagLen:])
		if valLen < 0 {
			return nil, protowire.ParseError(valLen)
		}
		taken := false
		if typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(data[tagLen:])
			taken = take(n, v)
		}
		if !taken {
			rest = append(rest, data[:tagLen+valLen]...)
		}
		data = data[tagLen+valLen:]
	}
	return rest, nil
}

// unmarshalDigest decodes one ResponseDigest into d; scratch is reused
// and returned.
func unmarshalDigest(data []byte, d *shadowdiffv1.ResponseDigest, scratch []byte) ([]byte, error) {
	var headers [][]byte
	var body []byte
	bodies := 0
	rest, err := split(data, scratch, func(n protowire.Number, b []byte) bool {
		switch n {
		case digestHeaders:
			headers = append(headers, b)
		case digestBody:
			// Repeated occurrences of a message field merge, as their
			// concatenation decodes.
			if bodies++; bodies == 1 {
				body = b
			} else {
				body = append(body[:len(body):len(body)], b...)
			}
		default:
			return false
		}
		return true
	})
	if err != nil {
		return scratch, d.UnmarshalVT(data)
	}
	if err := d.UnmarshalVT(rest); err != nil {
		return rest, err
	}
	if len(headers) > 0 {
		hs := make([]shadowdiffv1.HeaderDigest, len(headers))
		d.Headers = make([]*shadowdiffv1.HeaderDigest, len(headers))
		for i, b := range headers {
			if err := hs[i].UnmarshalVT(b); err != nil {
				return rest, err
			}
			d.Headers[i] = &hs[i]
		}
	}
	if bodies > 0 {
		d.Body = &shadowdiffv1.BodyDigest{}
		if err := unmarshalBody(body, d.Body); err != nil {
			return rest, err
		}
	}
	return rest, nil
}

// unmarshalBody decodes a BodyDigest into b.
func unmarshalBody(data []byte, b *shadowdiffv1.BodyDigest) error {
	var fields [][]byte
	rest, err := split(data, nil, func(n protowire.Number, f []byte) bool {
		if n == bodyFields {
			fields = append(fields, f)
		}
		return n == bodyFields
	})
	if err != nil {
		return b.UnmarshalVT(data)
	}
	if err := b.UnmarshalVT(rest); err != nil {
		return err
	}
	if len(fields) == 0 {
		return nil
	}
	entries := make([]shadowdiffv1.FieldEntry, len(fields))
	b.Fields = make([]*shadowdiffv1.FieldEntry, len(fields))
	paths := make([]byte, 0, 32*len(fields))
	bounds := make([][2]int, len(fields))
	for i, f := range fields {
		var ok bool
		if paths, ok = plainEntry(f, &entries[i], paths, &bounds[i]); !ok {
			entries[i] = shadowdiffv1.FieldEntry{}
			bounds[i] = [2]int{-1, -1}
			if err := entries[i].UnmarshalVT(f); err != nil {
				return err
			}
		}
		b.Fields[i] = &entries[i]
	}
	all := string(paths)
	for i := range entries {
		if bounds[i][0] >= 0 {
			entries[i].Path = all[bounds[i][0]:bounds[i][1]]
		}
	}
	return nil
}

// plainEntry decodes a FieldEntry made only of its known fields with
// their declared wire types; the path's bytes go to paths and its bounds
// in paths to bound. ok is false for anything else.
func plainEntry(data []byte, e *shadowdiffv1.FieldEntry, paths []byte, bound *[2]int) (_ []byte, ok bool) {
	*bound = [2]int{len(paths), len(paths)}
	for len(data) > 0 {
		n, typ, k := protowire.ConsumeTag(data)
		if k < 0 {
			return paths, false
		}
		data = data[k:]
		switch {
		case typ == protowire.BytesType && (n == 1 || n == 9):
			v, k := protowire.ConsumeBytes(data)
			if k < 0 {
				return paths, false
			}
			data = data[k:]
			if n == 1 {
				*bound = [2]int{len(paths), len(paths) + len(v)}
				paths = append(paths, v...)
			} else {
				s := string(v)
				e.RawValue = &s
			}
		case typ == protowire.Fixed64Type && (n == 5 || n == 6):
			v, k := protowire.ConsumeFixed64(data)
			if k < 0 {
				return paths, false
			}
			data = data[k:]
			if n == 5 {
				e.ValueHash = v
			} else {
				e.UnorderedHash = v
			}
		case typ == protowire.VarintType && (n == 2 || n == 3 || n == 4 || n == 7 || n == 8):
			v, k := protowire.ConsumeVarint(data)
			if k < 0 {
				return paths, false
			}
			data = data[k:]
			switch n {
			case 2:
				e.Type = shadowdiffv1.JsonType(v)
			case 3:
				e.Shape = shadowdiffv1.ValueShape(v)
			case 4:
				e.LengthBucket = uint32(v)
			case 7:
				e.Occurrences = uint32(v)
			case 8:
				e.Elements = uint32(v)
			}
		default:
			return paths, false
		}
	}
	return paths, true
}
