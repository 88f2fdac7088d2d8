package digest

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 256

// maxRaw bounds a raw value sent for an allowlisted field.
const maxRaw = 256

// JSONOptions configures field digests.
type JSONOptions struct {
	Key Key
	// MaxFields bounds the distinct paths listed; 0 means no bound.
	MaxFields int
	// Raw reports whether the raw value of a body path ("user.tier") may be
	// sent. nil: never.
	Raw func(path string) bool
}

// JSONDigest is the field-level digest of a JSON document.
type JSONDigest struct {
	Fields []wire.FieldEntry
	// FieldsTruncated: more distinct paths than MaxFields.
	FieldsTruncated bool
}

// DigestJSON parses src and folds every generalised path into one entry (see
// FieldEntry in proto/shadowdiff/v1/digest.proto for the path syntax and the
// canonical form each hash covers). Trailing whitespace is allowed; anything
// else after the value is an error.
func DigestJSON(src []byte, opts *JSONOptions) (JSONDigest, error) {
	d := newJSONDigester(opts, oneShotHashCacheSize, 32)
	if err := d.digest(src); err != nil {
		return JSONDigest{}, err
	}
	return JSONDigest{Fields: d.fields, FieldsTruncated: d.truncated}, nil
}

// Type tags keep values of different types from hashing alike ("1" vs 1).
const (
	tagNull = iota
	tagTrue
	tagFalse
	tagNumber
	tagString
	numTags
	tagObject = 'o' // containers mix their own hashes
	tagArray  = 'a'
)

// SyntaxError reports where a body stopped being JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// plainZeros bounds the zeros a canonical number writes out that are not
// among its significant digits: the trailing zeros of an integer (1e20 is
// 100000000000000000000) or the zeros between the point and the first
// significant digit (1e-21 is 0.000000000000000000001). A value that needs
// more is written in exponent form (1e+21, 1e-22): a canonical form is never
// more than about plainZeros bytes longer than its literal (1e999999999 is
// not a billion zeros), yet the plain forms JavaScript and Go write
// (1e-7 <= |x| < 1e21) and every decimal with fewer zeros stay as they are.
const plainZeros = 20

// zeros holds plainZeros zeros.
const zeros = "00000000000000000000"

// canonicalNumber gives equal numbers one spelling, computed exactly from
// the literal's digits (no float64: long decimals and ids, and magnitudes
// beyond float64's range, keep every digit): 1, 1.0, 1e0 and 10e-1 are all
// "1", 0.00001 and 1e-5 are "0.00001", 1e400 is "1e+400". The sign, then
// the significant digits (leading and trailing zeros stripped) in plain
// decimal notation when that takes at most plainZeros zeros besides them,
// else as d.ddd followed by e, the exponent's sign and at least two of its
// digits (as strconv's %e). Zero is "0", whatever its sign or exponent.
func canonicalNumber(lit, buf []byte) []byte {
	i := 0
	if lit[0] == '-' {
		i = 1
	}
	// The mantissa's digits are lit[i:ie] then lit[fs:fe]; its index j
	// below counts over both.
	ie := i
	for ie < len(lit) && isDigit(lit[ie]) {
		ie++
	}
	fs, fe := ie, ie
	if fe < len(lit) && lit[fe] == '.' {
		fs++
		fe = fs
		for fe < len(lit) && isDigit(lit[fe]) {
			fe++
		}
	}
	ni := ie - i
	nm := ni + fe - fs
	at := func(j int) byte {
		if j < ni {
			return lit[i+j]
		}
		return lit[fs+j-ni]
	}
	first, last := 0, nm-1
	for first < nm && at(first) == '0' {
		first++
	}
	if first == nm {
		return append(buf, '0') // -0 is 0
	}
	for at(last) == '0' {
		last--
	}
	// The exponent: its sign, and its digits without leading zeros.
	expNeg := false
	es := fe
	if es < len(lit) {
		es++ // 'e' or 'E'
		if lit[es] == '+' || lit[es] == '-' {
			expNeg = lit[es] == '-'
			es++
		}
		for es < len(lit)-1 && lit[es] == '0' {
			es++
		}
	}
	if i == 1 {
		buf = append(buf, '-')
	}
	n := last - first + 1 // significant digits
	if len(lit)-es > 18 {
		// |exponent| >= 1e18: far beyond plainZeros of any literal.
		buf = appendMantissa(buf, lit, i, ni, fs, first, last)
		return appendHugeExponent(buf, lit[es:], expNeg, ni-first-1)
	}
	var e int64
	for _, c := range lit[es:] {
		e = e*10 + int64(c-'0')
	}
	if expNeg {
		e = -e
	}
	// The value is 0.ddd (the n significant digits) times 10^p.
	p := int64(ni-first) + e
	switch {
	case p >= int64(n) && p-int64(n) <= plainZeros:
		buf = appendDigits(buf, lit, i, ni, fs, first, last+1)
		return append(buf, zeros[:p-int64(n)]...)
	case p > 0 && p < int64(n):
		buf = appendDigits(buf, lit, i, ni, fs, first, first+int(p))
		buf = append(buf, '.')
		return appendDigits(buf, lit, i, ni, fs, first+int(p), last+1)
	case p <= 0 && -p <= plainZeros:
		buf = append(buf, "0."...)
		buf = append(buf, zeros[:-p]...)
		return appendDigits(buf, lit, i, ni, fs, first, last+1)
	}
	buf = appendMantissa(buf, lit, i, ni, fs, first, last)
	x := p - 1
	buf = append(buf, 'e', '+')
	if x < 0 {
		buf[len(buf)-1] = '-'
		x = -x
	}
	if x < 10 {
		buf = append(buf, '0')
	}
	return strconv.AppendInt(buf, x, 10)
}

// appendDigits appends digits j of the mantissa for a <= j < b (see
// canonicalNumber).
func appendDigits(buf, lit []byte, i, ni, fs, a, b int) []byte {
	if a < ni {
		buf = append(buf, lit[i+a:i+min(b, ni)]...)
	}
	if b > ni {
		buf = append(buf, lit[fs+max(a, ni)-ni:fs+b-ni]...)
	}
	return buf
}

// appendMantissa appends the significant digits first..last as d.ddd.
func appendMantissa(buf, lit []byte, i, ni, fs, first, last int) []byte {
	buf = appendDigits(buf, lit, i, ni, fs, first, first+1)
	if last > first {
		buf = append(buf, '.')
		buf = appendDigits(buf, lit, i, ni, fs, first+1, last+1)
	}
	return buf
}

// appendHugeExponent appends "e", the sign and the digits of exp+delta,
// where exp is the literal exponent with digits mag (no leading zeros, at
// least 19 of them) and sign neg: decimal string arithmetic, as exp may be
// beyond any integer type, but |delta| (bounded by the literal's length)
// is below 1e18, so the sum keeps exp's sign.
func appendHugeExponent(buf, mag []byte, neg bool, delta int) []byte {
	buf = append(buf, 'e', '+')
	if neg {
		buf[len(buf)-1] = '-'
		delta = -delta
	}
	start := len(buf)
	buf = append(buf, '0') // room for a carry
	buf = append(buf, mag...)
	carry := delta
	for j := len(buf) - 1; carry != 0; j-- {
		v := int(buf[j]-'0') + carry
		carry = v / 10
		if v %= 10; v < 0 {
			v += 10
			carry--
		}
		buf[j] = '0' + byte(v)
	}
	z := start
	for buf[z] == '0' {
		z++
	}
	return append(buf[:start], buf[z:]...)
}

// appendEscapedKey writes a member name into a path: the path
// metacharacters '.', '[', ']', '\' and '"' escaped with '\', and a byte
// that is not part of valid UTF-8 or is an ASCII control character as \xNN
// (wire.AppendEscaped): paths are protobuf strings, which must be UTF-8,
// the collector refuses control characters, and two member names that
// differ only in such bytes (Latin-1 text) keep two paths. An empty key is written
// `""` so it cannot be confused with its parent (and, quotes escaped, with a
// member named `""`).
func appendEscapedKey(b, key []byte) []byte {
	if len(key) == 0 {
		return append(b, `""`...)
	}
	return wire.AppendEscaped(b, key, pathMeta)
}

// pathMeta are the bytes escaped in a path's member names.
const pathMeta = `.[]\"`

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncateUTF8[T string | []byte](s T, n int) T {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// FNV1a is the unkeyed 64-bit FNV-1a hash, for what needs no secret:
// member names (they travel in clear in paths) and sampling decisions.
// Unlike hash/fnv it takes a string or bytes without allocating.
func FNV1a[T string | []byte](b T) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= fnvPrime
	}
	return h
}

const (
	fnvOffset = 0xcbf29ce484222325
	fnvPrime  = 0x100000001b3
)
