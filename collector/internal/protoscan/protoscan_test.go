package protoscan

import (
	"bytes"
	"math/rand/v2"
	"strings"
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

// randomEntry is a FieldEntry with each field present or not, and values
// that take one byte or more.
func randomEntry(r *rand.Rand) *shadowdiffv1.FieldEntry {
	pick := func(small, large uint64) uint64 {
		switch r.IntN(3) {
		case 0:
			return 0 // left out
		case 1:
			return 1 + r.Uint64N(small)
		}
		return large
	}
	e := &shadowdiffv1.FieldEntry{
		Path: strings.Repeat("a.b", int(pick(20, 50))), Type: shadowdiffv1.JsonType(pick(7, 300)),
		Shape: shadowdiffv1.ValueShape(pick(12, 128)), LengthBucket: uint32(pick(9, 1<<20)),
		ValueHash: pick(1<<63, 1), UnorderedHash: pick(1<<63, 0), Occurrences: uint32(pick(127, 1<<31)),
		Elements: uint32(pick(127, 300)),
	}
	if r.IntN(3) == 0 {
		raw := strings.Repeat("x", int(pick(100, 200)))
		e.RawValue = &raw
	}
	return e
}

// The in-order reader reads what the generated code writes (in order) as
// the any-order one does, and takes the entries the filter writes.
func TestInOrderFieldEntryAgreesWithAnyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for range 20_000 {
		want := randomEntry(r)
		data, err := want.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		var in, loop FieldEntry
		inOK, loopOK := inOrderFieldEntry(data, &in), anyOrderFieldEntry(data, &loop)
		if !loopOK {
			t.Fatalf("any order refused %v", want)
		}
		if inOK {
			fast++
			if in != loop {
				t.Fatalf("%v: in order read %+v, any order %+v", want, in, loop)
			}
		}
		oneByte := len(want.Path) < 0x80 && want.Type < 0x80 && want.Shape < 0x80 && want.LengthBucket < 0x80 &&
			(want.RawValue == nil || len(*want.RawValue) < 0x80)
		if oneByte && !inOK {
			t.Fatalf("in order refused %v", want)
		}
		// A byte changed: whatever the in-order reader takes, the
		// any-order one reads the same.
		bad := bytes.Clone(data)
		if len(bad) > 0 {
			bad[r.IntN(len(bad))] = byte(r.Uint32())
			if inOrderFieldEntry(bad, &in) && (!anyOrderFieldEntry(bad, &loop) || in != loop) {
				t.Fatalf("% x: in order read %+v, any order %+v", bad, in, loop)
			}
		}
	}
	if fast < 2_000 {
		t.Errorf("the in-order reader took %d of 20,000 entries", fast)
	}
}

func FuzzInOrderFieldEntry(f *testing.F) {
	for _, e := range []*shadowdiffv1.FieldEntry{{Path: "a", Type: 3, ValueHash: 9, Occurrences: 300}, {Path: "b", Elements: 1}} {
		data, err := e.MarshalVT()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in, loop FieldEntry
		if inOrderFieldEntry(data, &in) && (!anyOrderFieldEntry(data, &loop) || in != loop) {
			t.Fatalf("% x: in order read %+v, any order %+v", data, in, loop)
		}
	})
}
