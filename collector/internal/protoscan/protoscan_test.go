package protoscan

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
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

func TestPlainFieldEntryReadsWhatTheGeneratedCodeWrites(t *testing.T) {
	raw := "gold"
	want := &shadowdiffv1.FieldEntry{Path: "items[].tier", Type: shadowdiffv1.JsonType_JSON_TYPE_STRING,
		Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_TEXT, LengthBucket: 3, ValueHash: 1 << 63, UnorderedHash: 7,
		Occurrences: 300, Elements: 2, RawValue: &raw}
	data, err := want.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	var e FieldEntry
	ok := PlainFieldEntry(data, &e)
	if !ok {
		t.Fatal("refused a plain entry")
	}
	if string(e.Path(data)) != want.Path || shadowdiffv1.JsonType(e.Type) != want.Type || shadowdiffv1.ValueShape(e.Shape) != want.Shape ||
		e.LengthBucket != want.LengthBucket || e.ValueHash != want.ValueHash || e.UnorderedHash != want.UnorderedHash ||
		e.Occurrences != want.Occurrences || e.Elements != want.Elements || !e.HasRaw || string(e.Raw(data)) != raw {
		t.Errorf("read %+v, want %v", e, want)
	}
	if PlainFieldEntry(protowire.AppendVarint(append([]byte(nil), data...), 99<<3), &e) {
		t.Error("accepted an unknown field")
	}
}

func BenchmarkPlainFieldEntry(b *testing.B) {
	data, err := (&shadowdiffv1.FieldEntry{Path: "order.items[].price", Type: shadowdiffv1.JsonType_JSON_TYPE_NUMBER,
		Shape: shadowdiffv1.ValueShape_VALUE_SHAPE_DECIMAL, LengthBucket: 2, ValueHash: 0x9e3779b97f4a7c15, UnorderedHash: 42,
		Occurrences: 3}).MarshalVT()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	var e FieldEntry
	for b.Loop() {
		if !PlainFieldEntry(data, &e) || e.Occurrences != 3 {
			b.Fatal("not read")
		}
	}
}
