// Package protoscan reads protobuf wire data field by field, with the
// one-byte tags and lengths the filter writes read inline: the collector's
// fast decoders (collector/server's batch decoder, collector/engine's
// field reader) walk digests with it and fall back to the generated code
// for anything else.
package protoscan

import "google.golang.org/protobuf/encoding/protowire"

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
		n, k := Uvarint(data)
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

// Uvarint is protowire.ConsumeVarint with the one-byte case inlined.
func Uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}
