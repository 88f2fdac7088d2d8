package protoscan

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestNextFieldWalksEveryWireType(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "items[].price")
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 300)
	b = protowire.AppendTag(b, 5, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 7)
	b = protowire.AppendTag(b, 40, protowire.BytesType) // a two-byte tag
	b = protowire.AppendBytes(b, bytes.Repeat([]byte{'x'}, 200))

	want := []struct {
		num     protowire.Number
		payload string
	}{{1, "items[].price"}, {2, ""}, {5, ""}, {40, string(bytes.Repeat([]byte{'x'}, 200))}}
	for i, w := range want {
		num, payload, rest, ok := NextField(b)
		if !ok || num != w.num || string(payload) != w.payload {
			t.Fatalf("field %d: got %d %q ok=%v, want %d %q", i, num, payload, ok, w.num, w.payload)
		}
		b = rest
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left", len(b))
	}
}

func TestNextFieldRefusesWhatProtowireRefuses(t *testing.T) {
	for name, data := range map[string][]byte{
		"length past the end": {0x0a, 0x05, 'a'},
		"truncated varint":    {0x10, 0x80},
		"bad tag":             {0x80},
	} {
		if _, _, _, ok := NextField(data); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestUvarint(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1 << 40} {
		b := protowire.AppendVarint(nil, v)
		if got, n := Uvarint(b); got != v || n != len(b) {
			t.Errorf("%d: got %d, %d bytes", v, got, n)
		}
	}
	if _, n := Uvarint(nil); n >= 0 {
		t.Errorf("empty input: n=%d", n)
	}
}
