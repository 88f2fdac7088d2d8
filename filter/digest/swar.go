package digest

import (
	"encoding/binary"
	"math/bits"
)

// Word-at-a-time byte tests. Under Wasm every loop iteration costs a
// dispatch, so scanning 8 bytes per iteration is several times faster than
// one table load per byte.

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialBytes has the high bit set in the byte of w that is the first '"',
// '\\' or control character, and possibly in later bytes, never earlier
// ones: its lowest set bit locates the first such byte exactly.
func specialBytes(w uint64) uint64 {
	q := w ^ (lsb * '"')
	b := w ^ (lsb * '\\')
	return ((q-lsb)&^q | (b-lsb)&^b | (w-lsb*0x20)&^w) & msb
}

// nonDigits has the high bit set in the first byte of w that is not an
// ASCII digit, and possibly in later bytes, never earlier ones.
func nonDigits(w uint64) uint64 {
	return ((w-lsb*'0')&^w | (w + lsb*(127-'9')) | w) & msb
}

// scanDigits returns the offset of the first byte at or after i that is not
// an ASCII digit, or len(src).
//
//go:noinline
func scanDigits(src []byte, i int) int {
	for ; i+8 <= len(src); i += 8 {
		if m := nonDigits(binary.LittleEndian.Uint64(src[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	return i
}

// scanPlain returns the offset of the first '"', '\\' or control character
// at or after i, or len(src).
func scanPlain(src []byte, i int) int {
	for ; i+8 <= len(src); i += 8 {
		if m := specialBytes(binary.LittleEndian.Uint64(src[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(src) && byteClass[src[i]]&cSpecial == 0 {
		i++
	}
	return i
}

// word returns the first min(len(b), 8) bytes of b as a little-endian
// word, zero-padded. It reads 8 bytes at once when b's capacity allows.
func word(b []byte) uint64 {
	if cap(b) < 8 {
		return wordSlow(b)
	}
	return binary.LittleEndian.Uint64(b[:8]) & (1<<(8*min(len(b), 8)) - 1)
}

func wordSlow(b []byte) uint64 {
	var w uint64
	for i := min(len(b), 8) - 1; i >= 0; i-- {
		w = w<<8 | uint64(b[i])
	}
	return w
}

// hasAt reports whether the word of a string of at most 8 bytes (zero
// padded, from word) holds an '@'.
func hasAt(w uint64) bool {
	x := w ^ (lsb * '@')
	return (x-lsb)&^x&msb != 0
}
