package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ParseDigestAck decodes a DigestAck, skipping unknown fields.
func ParseDigestAck(b []byte) (DigestAck, error) {
	var a DigestAck
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			a.Sequence = v
		case num == 2 && typ == protowire.VarintType:
			a.Accepted = uint32(v)
		case num == 3 && typ == protowire.BytesType:
			r, err := parseRejection(bs)
			if err != nil {
				return fmt.Errorf("rejections[%d]: %w", len(a.Rejections), err)
			}
			a.Rejections = append(a.Rejections, r)
		}
		return nil
	})
	return a, err
}

func parseRejection(b []byte) (Rejection, error) {
	var r Rejection
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			r.Index = uint32(v)
		case num == 2 && typ == protowire.BytesType:
			r.Reason = string(bs)
		}
		return nil
	})
	return r, err
}

var errTruncated = errors.New("truncated message")

// walk calls fn for every field of a message: v for varint/fixed values,
// bs for length-delimited ones.
func walk(b []byte, fn func(protowire.Number, protowire.Type, uint64, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
		var v uint64
		var bs []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(b)
			v = uint64(v32)
		case protowire.BytesType:
			bs, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
		if err := fn(num, typ, v, bs); err != nil {
			return err
		}
	}
	return nil
}
