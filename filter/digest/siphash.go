package digest

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// Key is a 128-bit SipHash key. Every hash the filter sends is keyed, so the
// collector (or anyone reading its store) learns equality of values, never
// the values: without the key a hash cannot be checked against guesses.
type Key struct{ k0, k1 uint64 }

// NewKey derives a key from 16 or more bytes of secret material.
func NewKey(secret []byte) Key {
	var b [16]byte
	copy(b[:], secret)
	// Fold longer secrets in, so every byte counts.
	for i := 16; i < len(secret); i++ {
		b[i%16] ^= secret[i]
	}
	return Key{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// Sum64 is SipHash-2-4 of data under k. One-shot, with the state in
// locals: several times faster than the streaming Hasher on short values.
func (k Key) Sum64(p []byte) uint64 {
	v0 := k.k0 ^ 0x736f6d6570736575
	v1 := k.k1 ^ 0x646f72616e646f6d
	v2 := k.k0 ^ 0x6c7967656e657261
	v3 := k.k1 ^ 0x7465646279746573
	length := uint64(len(p))
	for len(p) >= 8 {
		m := binary.LittleEndian.Uint64(p)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
		p = p[8:]
	}
	var last [8]byte
	copy(last[:], p)
	m := binary.LittleEndian.Uint64(last[:]) | length<<56
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// Tweak derives a key for one domain (JSON type, say) so values of
// different domains never hash alike, without hashing a domain byte.
func (k Key) Tweak(domain byte) Key {
	return Key{k.k0 ^ uint64(domain)*0x9e3779b97f4a7c15, k.k1}
}

// SumString is Sum64 of a string without copying it.
func (k Key) SumString(s string) uint64 {
	// Sum64 only reads p: hash the string's bytes in place.
	return k.Sum64(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Hasher is a streaming SipHash-2-4, for bodies that arrive in chunks.
type Hasher struct {
	v0, v1, v2, v3 uint64
	tail           [8]byte
	ntail          int
	length         uint64
}

// New starts a streaming hash under k.
func (k Key) New() Hasher {
	return Hasher{
		v0: k.k0 ^ 0x736f6d6570736575,
		v1: k.k1 ^ 0x646f72616e646f6d,
		v2: k.k0 ^ 0x6c7967656e657261,
		v3: k.k1 ^ 0x7465646279746573,
	}
}

func (h *Hasher) round(m uint64) {
	h.v3 ^= m
	h.sipround()
	h.sipround()
	h.v0 ^= m
}

func (h *Hasher) sipround() {
	h.v0 += h.v1
	h.v1 = bits.RotateLeft64(h.v1, 13)
	h.v1 ^= h.v0
	h.v0 = bits.RotateLeft64(h.v0, 32)
	h.v2 += h.v3
	h.v3 = bits.RotateLeft64(h.v3, 16)
	h.v3 ^= h.v2
	h.v0 += h.v3
	h.v3 = bits.RotateLeft64(h.v3, 21)
	h.v3 ^= h.v0
	h.v2 += h.v1
	h.v1 = bits.RotateLeft64(h.v1, 17)
	h.v1 ^= h.v2
	h.v2 = bits.RotateLeft64(h.v2, 32)
}

// Write adds p to the hash; it never fails.
func (h *Hasher) Write(p []byte) {
	h.length += uint64(len(p))
	if h.ntail > 0 {
		n := copy(h.tail[h.ntail:], p)
		h.ntail += n
		p = p[n:]
		if h.ntail < 8 {
			return
		}
		h.round(binary.LittleEndian.Uint64(h.tail[:]))
		h.ntail = 0
	}
	for len(p) >= 8 {
		h.round(binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	h.ntail = copy(h.tail[:], p)
}

// WriteString adds s to the hash.
func (h *Hasher) WriteString(s string) {
	for len(s) > 0 {
		var buf [64]byte
		n := copy(buf[:], s)
		h.Write(buf[:n])
		s = s[n:]
	}
}

// WriteUint64 adds v as 8 little-endian bytes.
func (h *Hasher) WriteUint64(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	h.Write(b[:])
}

// Sum64 returns the hash of everything written so far; h stays usable.
func (h Hasher) Sum64() uint64 {
	var last [8]byte
	copy(last[:], h.tail[:h.ntail])
	b := binary.LittleEndian.Uint64(last[:]) | h.length<<56
	h.round(b)
	h.v2 ^= 0xff
	h.sipround()
	h.sipround()
	h.sipround()
	h.sipround()
	return h.v0 ^ h.v1 ^ h.v2 ^ h.v3
}

// Len is the number of bytes written.
func (h *Hasher) Len() uint64 { return h.length }

// mix combines two hashes into one; used for containers and occurrence
// lists, whose inputs are already keyed hashes.
func mix(a, b uint64) uint64 {
	x := a ^ bits.RotateLeft64(b, 31) ^ 0x9e3779b97f4a7c15
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
