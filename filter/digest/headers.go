package digest

import (
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// DefaultExcludedHeaders differ on every response for reasons that are
// never a regression, or restate what the digest already has.
var DefaultExcludedHeaders = []string{
	"date", "content-length", "transfer-encoding", "connection", "keep-alive",
	"x-envoy-upstream-service-time", "x-request-id", ":status",
}

// HeaderOptions configures header digests.
type HeaderOptions struct {
	Key Key
	// Include, when not empty, lists the only headers digested.
	Include []string
	// Exclude lists headers never digested (lower-case names).
	Exclude []string
	// Raw reports whether a header's raw value may be sent.
	Raw func(name string) bool
}

// DigestHeaders digests response headers, one entry per name (values of a
// repeated header joined by ","), sorted by name.
func DigestHeaders(hs [][2]string, opts *HeaderOptions) []wire.HeaderDigest {
	return AppendHeaderDigests(make([]wire.HeaderDigest, 0, len(hs)), hs, opts)
}

// AppendHeaderDigests appends the digests of hs to dst (DigestHeaders without the allocation of the result slice).
//
// It allocates only for what is rare in responses: names with upper-case
// letters (HTTP/2 and Envoy lower-case them), repeated headers (their
// values are joined) and raw values of allowlisted headers.
func AppendHeaderDigests(dst []wire.HeaderDigest, hs [][2]string, opts *HeaderOptions) []wire.HeaderDigest {
	base := len(dst)
	// One entry per wanted name, in insertion-sorted order. Until its
	// digest is computed an entry holds, in ValueHash, the index in hs of
	// the name's first header and, in Shape, how many headers have it.
	for i, h := range hs {
		name := h[0]
		if needsLower(name) {
			name = strings.ToLower(name)
		}
		if !wanted(name, opts) {
			continue
		}
		j := base
		for j < len(dst) && dst[j].Name < name {
			j++
		}
		if j < len(dst) && dst[j].Name == name {
			dst[j].Shape++
			continue
		}
		dst = append(dst, wire.HeaderDigest{})
		copy(dst[j+1:], dst[j:])
		dst[j] = wire.HeaderDigest{Name: name, ValueHash: uint64(i), Shape: 1}
	}
	for i := base; i < len(dst); i++ {
		hd := &dst[i]
		v := hs[hd.ValueHash][1]
		if hd.Shape > 1 {
			v = joinedValue(hs, hd.Name)
		}
		hd.ValueHash = opts.Key.SumString(v)
		// StringShape only reads its argument: view v's bytes in place.
		hd.Shape = StringShape(unsafe.Slice(unsafe.StringData(v), len(v)))
		if opts.Raw != nil && opts.Raw(hd.Name) {
			r := v
			if len(r) > maxRaw {
				r = truncateUTF8(r, maxRaw)
			}
			hd.Raw = &r
		}
	}
	return dst
}

// needsLower reports whether strings.ToLower might change s: whether it
// has an upper-case ASCII letter or a non-ASCII byte. A word at a time.
func needsLower(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if upperOrHigh(binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))) {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
			return true
		}
	}
	return false
}

// upperOrHigh reports whether a byte of w is in 'A'..'Z' or >= 0x80.
func upperOrHigh(w uint64) bool {
	low := w &^ msb // each byte's low 7 bits: sums below cannot carry out
	geA := low + lsb*(0x80-'A')
	gtZ := low + lsb*(0x80-'Z'-1)
	return (w|geA&^gtZ)&msb != 0
}

// joinedValue returns the values of the headers named name (lower case),
// joined by "," in order.
func joinedValue(hs [][2]string, name string) string {
	v, n := "", 0
	for _, h := range hs {
		if !lowerEqual(h[0], name) {
			continue
		}
		if n == 0 {
			v = h[1]
		} else {
			v = v + "," + h[1]
		}
		n++
	}
	return v
}

// lowerEqual reports whether strings.ToLower(s) == lower, without
// allocating when s is ASCII.
func lowerEqual(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return strings.ToLower(s) == lower
		}
	}
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func wanted(name string, opts *HeaderOptions) bool {
	if len(opts.Include) > 0 {
		return slices.Contains(opts.Include, name)
	}
	return !slices.Contains(opts.Exclude, name)
}
