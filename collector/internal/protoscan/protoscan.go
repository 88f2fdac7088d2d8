// Package protoscan reads protobuf wire data field by field, with the
// one-byte tags and lengths the filter writes read inline: the collector's
// fast decoders (collector/server's batch decoder, collector/engine's
// field reader) walk digests with it and fall back to the generated code
// for anything else.
package protoscan

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"
)

// NextField reads the first field of a message: its number, its payload
// when it is length-delimited (else nil), and the fields after it. ok is
// false when protowire would refuse it.
func NextField(data []byte) (num protowire.Number, payload, rest []byte, ok bool) {
	var typ protowire.Type
	if data[0] < 0x80 && data[0] >= 1<<3 {
		num, typ, data = protowire.Number(data[0]>>3), protowire.Type(data[0]&7), data[1:]
	} else {
		n, t, k := protowire.ConsumeTag(data)
		if k < 0 {
			return 0, nil, nil, false
		}
		num, typ, data = n, t, data[k:]
	}
	if typ == protowire.BytesType {
		// Uvarint in line (it is not inlined): a length is one byte
		// but for large payloads.
		n, k := uint64(0), 1
		if len(data) > 0 && data[0] < 0x80 {
			n = uint64(data[0])
		} else {
			n, k = protowire.ConsumeVarint(data)
		}
		if k <= 0 || n > uint64(len(data)-k) {
			return 0, nil, nil, false
		}
		end := k + int(n)
		return num, data[k:end:end], data[end:], true
	}
	v := protowire.ConsumeFieldValue(num, typ, data)
	if v < 0 {
		return 0, nil, nil, false
	}
	return num, nil, data[v:], true
}

// Uvarint is protowire.ConsumeVarint with the one-byte case first. It is
// not inlined (over the compiler's budget), so the hottest loops
// (PlainFieldEntry, NextField, collector/server's plainFields) test for
// a one-byte varint themselves and call protowire for the rest.
func Uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// FieldEntry is a shadowdiff.v1.FieldEntry read by PlainFieldEntry. It
// holds no pointers: the path and raw value are where they are in the
// input (Path and Raw slice it), so filling an entry needs no GC write
// barrier, which ran for every field while the GC was marking.
type FieldEntry struct {
	pathFrom, pathTo, rawFrom, rawTo    int
	HasRaw                              bool
	Type, Shape                         uint64
	LengthBucket, Occurrences, Elements uint32
	ValueHash, UnorderedHash            uint64
}

// Path returns the entry's path in data, which must be the very slice
// PlainFieldEntry read (offsets into any other give other bytes).
func (e *FieldEntry) Path(data []byte) []byte { return data[e.pathFrom:e.pathTo:e.pathTo] }

// Raw returns the entry's raw value in data, the slice PlainFieldEntry read.
func (e *FieldEntry) Raw(data []byte) []byte { return data[e.rawFrom:e.rawTo:e.rawTo] }

// RawLen is the length of the entry's raw value.
func (e *FieldEntry) RawLen() int { return e.rawTo - e.rawFrom }

// PlainFieldEntry reads into e a FieldEntry made only of its known fields
// with their declared wire types and one-byte tags, as the filter writes
// them; ok is false for anything else (the caller then uses the generated
// decoder). It is the collector's innermost loop (a digest has tens of
// fields): it fills the caller's entry instead of returning a copy, and
// reads one-byte lengths and varints in line, as Uvarint cannot be inlined
// (together ~35% faster than returning an entry with slices).
func PlainFieldEntry(data []byte, e *FieldEntry) (ok bool) {
	return inOrderFieldEntry(data, e) || anyOrderFieldEntry(data, e)
}

// inOrderFieldEntry is PlainFieldEntry for an entry whose fields come in
// the order of their numbers, each at most once, with one-byte lengths and
// one-byte type, shape and length bucket, as the filter writes them: one
// test per field instead of a loop and a switch (~3x faster). ok is false
// for anything else, which anyOrderFieldEntry reads.
func inOrderFieldEntry(d []byte, e *FieldEntry) (ok bool) {
	const bytesTag, fixedTag = 2, 1
	*e = FieldEntry{}
	i := 0
	if len(d) >= 2 && d[0] == 1<<3|bytesTag {
		n := int(d[1])
		if n >= 0x80 || n > len(d)-2 {
			return false
		}
		e.pathFrom, e.pathTo, i = 2, 2+n, 2+n
	}
	if len(d)-i >= 2 && d[i] == 2<<3 {
		if d[i+1] >= 0x80 {
			return false
		}
		e.Type, i = uint64(d[i+1]), i+2
	}
	if len(d)-i >= 2 && d[i] == 3<<3 {
		if d[i+1] >= 0x80 {
			return false
		}
		e.Shape, i = uint64(d[i+1]), i+2
	}
	if len(d)-i >= 2 && d[i] == 4<<3 {
		if d[i+1] >= 0x80 {
			return false
		}
		e.LengthBucket, i = uint32(d[i+1]), i+2
	}
	if len(d)-i >= 9 && d[i] == 5<<3|fixedTag {
		e.ValueHash, i = binary.LittleEndian.Uint64(d[i+1:]), i+9
	}
	if len(d)-i >= 9 && d[i] == 6<<3|fixedTag {
		e.UnorderedHash, i = binary.LittleEndian.Uint64(d[i+1:]), i+9
	}
	if len(d)-i >= 2 && d[i] == 7<<3 {
		v, k := Uvarint(d[i+1:])
		if k <= 0 {
			return false
		}
		e.Occurrences, i = uint32(v), i+1+k
	}
	if len(d)-i >= 2 && d[i] == 8<<3 {
		v, k := Uvarint(d[i+1:])
		if k <= 0 {
			return false
		}
		e.Elements, i = uint32(v), i+1+k
	}
	if len(d)-i >= 2 && d[i] == 9<<3|bytesTag {
		n := int(d[i+1])
		if n >= 0x80 || n > len(d)-i-2 {
			return false
		}
		e.rawFrom, e.rawTo, e.HasRaw, i = i+2, i+2+n, true, i+2+n
	}
	return i == len(d)
}

// anyOrderFieldEntry is PlainFieldEntry for the plain form in any order.
func anyOrderFieldEntry(data []byte, e *FieldEntry) (ok bool) {
	const bytesTag, fixedTag = 2, 1
	*e = FieldEntry{}
	for i := 0; i < len(data); {
		tag := data[i]
		i++
		switch tag {
		case 5<<3 | fixedTag, 6<<3 | fixedTag: // value_hash, unordered_hash
			if len(data)-i < 8 {
				return false
			}
			v := binary.LittleEndian.Uint64(data[i:])
			i += 8
			if tag == 5<<3|fixedTag {
				e.ValueHash = v
			} else {
				e.UnorderedHash = v
			}
			continue
		case 1<<3 | bytesTag, 9<<3 | bytesTag, 2 << 3, 3 << 3, 4 << 3, 7 << 3, 8 << 3:
		default:
			return false
		}
		// A varint: a length or a value.
		if i == len(data) {
			return false
		}
		v := uint64(data[i])
		if v < 0x80 {
			i++
		} else {
			x, k := protowire.ConsumeVarint(data[i:])
			if k < 0 {
				return false
			}
			v, i = x, i+k
		}
		switch tag {
		case 1<<3 | bytesTag, 9<<3 | bytesTag: // path, raw_value
			if v > uint64(len(data)-i) {
				return false
			}
			end := i + int(v)
			if tag == 1<<3|bytesTag {
				e.pathFrom, e.pathTo = i, end
			} else {
				e.rawFrom, e.rawTo, e.HasRaw = i, end, true
			}
			i = end
		case 2 << 3:
			e.Type = v
		case 3 << 3:
			e.Shape = v
		case 4 << 3:
			e.LengthBucket = uint32(v)
		case 7 << 3:
			e.Occurrences = uint32(v)
		case 8 << 3:
			e.Elements = uint32(v)
		}
	}
	return true
}
