package digest

import (
	"encoding/binary"
	"testing"
)

// The reference vectors of the SipHash paper (Aumasson, Bernstein):
// key 00..0f, messages 00, 00 01, 00 01 02, ...
var sipVectors = []uint64{
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0,
}

func TestSipHashReferenceVectors(t *testing.T) {
	var kb [16]byte
	for i := range kb {
		kb[i] = byte(i)
	}
	k := NewKey(kb[:])
	msg := make([]byte, 0, len(sipVectors))
	for i, want := range sipVectors {
		if got := k.Sum64(msg); got != want {
			t.Errorf("len %d: got %#x want %#x", i, got, want)
		}
		msg = append(msg, byte(i))
	}
}

func TestStreamingMatchesOneShot(t *testing.T) {
	k := NewKey([]byte("0123456789abcdef-extra"))
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	want := k.Sum64(data)
	for _, chunk := range []int{1, 3, 7, 8, 9, 64, 999} {
		h := k.New()
		for i := 0; i < len(data); i += chunk {
			h.Write(data[i:min(i+chunk, len(data))])
		}
		if got := h.Sum64(); got != want {
			t.Errorf("chunk %d: %#x != %#x", chunk, got, want)
		}
	}
	if k.SumString(string(data)) != want {
		t.Error("SumString differs")
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 42)
	h := k.New()
	h.WriteUint64(42)
	if h.Sum64() != k.Sum64(b[:]) {
		t.Error("WriteUint64 differs")
	}
}

func TestKeysSeparate(t *testing.T) {
	a, b := NewKey([]byte("key-a-0123456789")), NewKey([]byte("key-b-0123456789"))
	if a.SumString("x") == b.SumString("x") {
		t.Error("different keys gave the same hash")
	}
}

func BenchmarkSipHash1KiB(b *testing.B) {
	k := NewKey([]byte("0123456789abcdef"))
	data := make([]byte, 1024)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		k.Sum64(data)
	}
}

func TestSumStringMatchesSum64(t *testing.T) {
	k := NewKey([]byte("0123456789abcdef"))
	for _, s := range []string{"", "a", "seven77", "eight888", "a longer header value, past one block and more"} {
		if got, want := k.SumString(s), k.Sum64([]byte(s)); got != want {
			t.Errorf("SumString(%q) = %#x, want %#x", s, got, want)
		}
		h := k.New()
		h.WriteString(s)
		if got := h.Sum64(); got != k.SumString(s) {
			t.Errorf("streaming %q = %#x, want %#x", s, got, k.SumString(s))
		}
	}
}
