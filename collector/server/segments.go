package server

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"
)

// A batch arrives as the payloads of the HTTP/2 frames that carried it
// (16 KB each), and copying them into one buffer was ~3% of ingest's CPU.
// splitSegments reads the batch where it lies instead: each digest that
// is whole within a frame is a slice of it, and only the others (a digest
// is ~2.5 KB, so about one in six) are copied.

// segCursor is a position in a message split over segments.
type segCursor struct {
	segs [][]byte
	i    int // current segment
	off  int // offset in it
	left int // bytes from here to the end
}

// skipEmpty moves past the ends of segments.
func (c *segCursor) skipEmpty() {
	for c.i < len(c.segs) && c.off == len(c.segs[c.i]) {
		c.i, c.off = c.i+1, 0
	}
}

func (c *segCursor) done() bool {
	c.skipEmpty()
	return c.i == len(c.segs)
}

// peek copies up to len(dst) bytes from the position into dst without
// moving, and returns how many.
func (c *segCursor) peek(dst []byte) int {
	n, i, off := 0, c.i, c.off
	for n < len(dst) && i < len(c.segs) {
		k := copy(dst[n:], c.segs[i][off:])
		n += k
		i, off = i+1, 0
	}
	return n
}

// skip moves n bytes on; false when fewer are left.
func (c *segCursor) skip(n int) bool {
	if n > c.left {
		return false
	}
	c.left -= n
	for n > 0 {
		c.skipEmpty()
		if c.i == len(c.segs) {
			return false
		}
		k := min(n, len(c.segs[c.i])-c.off)
		c.off += k
		n -= k
	}
	return true
}

// take returns the next n bytes: a slice of the segment when they lie in
// one, else a copy appended to *spill (which keeps earlier copies valid:
// once full, it is replaced by a new array, never grown in place).
func (c *segCursor) take(n int, spill *[]byte) ([]byte, bool) {
	if n > c.left {
		return nil, false
	}
	if n == 0 {
		return []byte{}, true // empty, not nil: as the joined decoding gives it
	}
	c.left -= n
	c.skipEmpty()
	if c.i < len(c.segs) && len(c.segs[c.i])-c.off >= n {
		s := c.segs[c.i][c.off : c.off+n : c.off+n]
		c.off += n
		return s, true
	}
	if cap(*spill)-len(*spill) < n {
		*spill = make([]byte, 0, max(n, 2*cap(*spill), 32<<10))
	}
	start := len(*spill)
	for len(*spill)-start < n {
		c.skipEmpty()
		if c.i == len(c.segs) {
			return nil, false
		}
		k := min(n-(len(*spill)-start), len(c.segs[c.i])-c.off)
		*spill = append(*spill, c.segs[c.i][c.off:c.off+k]...)
		c.off += k
	}
	s := *spill
	return s[start:len(s):len(s)], true
}

// varint reads a varint as protowire.ConsumeVarint does.
func (c *segCursor) varint() (uint64, bool) {
	c.skipEmpty()
	if c.i < len(c.segs) {
		if seg := c.segs[c.i][c.off:]; len(seg) >= binary.MaxVarintLen64 || len(seg) == c.left {
			// All of it in this segment (or the message ends here).
			v, n := protowire.ConsumeVarint(seg)
			if n < 0 {
				return 0, false
			}
			c.off += n
			c.left -= n
			return v, true
		}
	}
	var b [binary.MaxVarintLen64]byte
	v, n := protowire.ConsumeVarint(b[:c.peek(b[:])])
	if n < 0 {
		return 0, false
	}
	return v, c.skip(n)
}

// splitSegments reads a DigestBatch split over segs: the payloads of its
// digests field (num) and the encoding of its other fields. ok is false
// for anything protoscan.NextField would not read, or anything unusual
// (groups): the caller then decodes the batch joined.
//
// The digests split between segments are copied into *spill (from the
// caller's pool); it is replaced when full.
func splitSegments(segs [][]byte, num protowire.Number, spill *[]byte) (digests [][]byte, rest []byte, ok bool) {
	c := segCursor{segs: segs}
	for _, s := range segs {
		c.left += len(s)
	}
	*spill = (*spill)[:0]
	for !c.done() {
		at := c
		tag, ok := c.varint()
		if !ok {
			return nil, nil, false
		}
		f, typ := protowire.DecodeTag(tag)
		if f < protowire.MinValidNumber || f > protowire.MaxValidNumber {
			return nil, nil, false
		}
		var size int
		switch typ {
		case protowire.BytesType:
			n, ok := c.varint()
			if !ok || n > uint64(maxInt) {
				return nil, nil, false
			}
			if f == num {
				p, ok := c.take(int(n), spill)
				if !ok {
					return nil, nil, false
				}
				digests = append(digests, p)
				continue
			}
			size = int(n)
		case protowire.VarintType:
			if _, ok := c.varint(); !ok {
				return nil, nil, false
			}
		case protowire.Fixed64Type:
			size = 8
		case protowire.Fixed32Type:
			size = 4
		default:
			return nil, nil, false
		}
		if !c.skip(size) {
			return nil, nil, false
		}
		// Another field, tag to end: copied from where it started.
		n := c.offsetFrom(at)
		var whole []byte
		whole, _ = at.take(n, &whole)
		rest = append(rest, whole...)
	}
	return digests, rest, true
}

// offsetFrom is how many bytes lie between from and c.
func (c *segCursor) offsetFrom(from segCursor) int {
	n := 0
	for i := from.i; i < c.i; i++ {
		n += len(c.segs[i])
	}
	return n - from.off + c.off
}

const maxInt = int(^uint(0) >> 1)
